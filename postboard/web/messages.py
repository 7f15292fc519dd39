"""What the web app's pages say beyond the API's messages (postboard/errors.py): notices by code, so that
a link can only ever ask for one of these."""

FORBIDDEN_FORM = (
    "This form has expired or did not come from this site. Go back, reload the page and try again."
)
NOT_FOUND_PAGE = "There is no such page."
WRONG_METHOD = "This page cannot be used that way: follow a link or a button of the app."
BAD_ADDRESS = "This address is not one the app understands."

NOTICES = {
    "registered": "Your account is ready: log in.",
    "ended": "Your session has ended: log in again.",
    "logged-out": "You have logged out.",
    "deleted": "The post was deleted.",
    "email-changed": "Your email was changed. Follow the link we mailed to the new address to verify it.",
    "email-pending": "Follow the link we mailed to the new address: your email changes once it is verified.",
    "email-kept": "Your email stays as it is: no change waits for verification.",
    "verification-sent": "A new verification link is on its way to your email.",
    "email-verified": "Your email address is verified.",
    "password-reset": "Your password was reset, and every session ended: log in with the new one.",
    "password-changed": "Your password was changed, and every session ended: log in with the new one.",
    "account-deleted": "Your account was deleted, with its posts and votes.",
    "post-removed": "The post was deleted.",
    "reports-dismissed": "The post's reports were dismissed.",
    "suspended": "The account was suspended: its sessions ended and its posts are hidden.",
    "reinstated": "The account was reinstated.",
    "reported": "Thank you: the admins will look at your report.",
    "already-reported": "You have reported this post already.",
}


def retry_after(message: str, seconds: int) -> str:
    return f"{message} (wait {seconds} seconds)."
