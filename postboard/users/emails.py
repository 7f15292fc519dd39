from email_validator import EmailNotValidError, validate_email


def normalize_email(email: str) -> str:
    """The stored form of an email: normalized as the validator does, then lower-cased in full."""
    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        # Not an address anyone could have registered; lower-casing keeps the lookup harmless.
        return email.lower()
