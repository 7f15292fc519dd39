"""Members report posts, once per post; admins see the queue, most reported first, and dismiss reports
or delete the post, each in the audit log."""

import asyncio

import httpx
from fastapi import FastAPI

from postboard.moderation.models import AuditEntry, PostReport
from postboard.posts.models import PostRow
from postboard.users.models import Role
from tests.helpers import A_REASON, Account, MakeAccount, MakePost, count_rows, give_role, report, vote


async def test_a_member_reports_a_post_once(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(alice)

    first = await report(client, bob, post["id"])
    second = await report(client, bob, post["id"])

    assert first.status_code == 201, first.text
    assert first.json()["post_id"] == post["id"]
    assert first.json()["reason"] == A_REASON["reason"]
    assert (second.status_code, second.json()) == (
        409,
        {"detail": f"You have already reported post {post['id']}"},
    )


async def test_concurrent_reports_of_one_member_add_one_row(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(alice)

    answers = await asyncio.gather(*(report(client, bob, post["id"]) for _ in range(8)))

    assert sorted(answer.status_code for answer in answers) == [201] + [409] * 7
    assert await count_rows(app, PostReport, PostReport.post_id == post["id"]) == 1


async def test_what_cannot_be_reported(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    own = await make_post(alice)
    draft = await make_post(bob, published=False)

    mine = await report(client, alice, own["id"])
    assert (mine.status_code, mine.json()) == (403, {"detail": "You cannot report your own post"})
    # Others' drafts do not exist for the caller; nor do missing posts.
    for post_id in (draft["id"], 999_999, 2**31):
        missing = await report(client, alice, post_id)
        assert (missing.status_code, missing.json()) == (
            404,
            {"detail": f"post with id: {post_id} was not found"},
        )


async def test_a_reason_is_required_bounded_and_not_blank(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(alice)
    for body in ({}, {"reason": ""}, {"reason": " \t\n"}, {"reason": "x" * 501}, {"reason": "a\x00b"}):
        response = await client.post(f"/posts/{post['id']}/report", json=body, headers=bob.headers)
        assert response.status_code == 422, body
    at_the_bound = {"reason": "x" * 500}
    accepted = await client.post(f"/posts/{post['id']}/report", json=at_the_bound, headers=bob.headers)
    assert accepted.status_code == 201, accepted.text


async def test_the_queue_shows_the_most_reported_first(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    make_account: MakeAccount,
    make_post: MakePost,
) -> None:
    once, thrice = await make_post(alice, title="Once"), await make_post(alice, title="Thrice")
    await make_post(alice, title="Never")
    reporters = [await make_account() for _ in range(3)]
    await report(client, reporters[0], once["id"])
    for reporter in reporters:
        await report(client, reporter, thrice["id"])

    queue = await client.get("/admin/reports", headers=admin.headers)

    assert queue.status_code == 200, queue.text
    assert [(entry["title"], entry["report_count"]) for entry in queue.json()] == [("Thrice", 3), ("Once", 1)]
    top = queue.json()[0]
    assert top["owner_id"] == alice.id
    assert top["owner_email"] == alice.email
    assert top["owner_suspended"] is False
    assert [entry["reporter_id"] for entry in top["reports"]] == [reporter.id for reporter in reporters]
    assert {entry["reason"] for entry in top["reports"]} == {A_REASON["reason"]}
    second_page = await client.get("/admin/reports?limit=1&skip=1", headers=admin.headers)
    assert [entry["title"] for entry in second_page.json()] == ["Once"]


async def test_dismissing_reports_keeps_the_post(
    client: httpx.AsyncClient, app: FastAPI, admin: Account, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(alice, title="Reported")
    await report(client, bob, post["id"])

    dismissed = await client.request(
        "DELETE", f"/admin/reports/{post['id']}", json={"reason": "Not spam"}, headers=admin.headers
    )

    assert dismissed.status_code == 204, dismissed.text
    assert (await client.get("/admin/reports", headers=admin.headers)).json() == []
    assert (await client.get(f"/posts/{post['id']}", headers=bob.headers)).status_code == 200
    entry = (await client.get("/admin/audit-log", headers=admin.headers)).json()[0]
    assert (entry["action"], entry["target_type"], entry["target_id"]) == (
        "dismiss_reports",
        "post",
        post["id"],
    )
    assert (entry["target"], entry["reason"]) == ("Reported", "Not spam")
    again = await client.request(
        "DELETE", f"/admin/reports/{post['id']}", json={"reason": "Not spam"}, headers=admin.headers
    )
    assert (again.status_code, again.json()) == (
        404,
        {"detail": f"post with id: {post['id']} has no reports"},
    )
    assert await count_rows(app, AuditEntry, AuditEntry.action == "dismiss_reports") == 1


async def test_an_admin_deletes_one_post_and_the_owners_others_stay(
    client: httpx.AsyncClient, app: FastAPI, admin: Account, alice: Account, bob: Account, make_post: MakePost
) -> None:
    doomed, kept = await make_post(alice, title="Doomed"), await make_post(alice, title="Kept")
    draft = await make_post(alice, title="Draft", published=False)
    await vote(client, bob, doomed["id"])
    await report(client, bob, doomed["id"])

    for post in (doomed, draft):
        deleted = await client.request(
            "DELETE", f"/admin/posts/{post['id']}", json=A_REASON, headers=admin.headers
        )
        assert deleted.status_code == 204, deleted.text

    assert await count_rows(app, PostRow, PostRow.owner_id == alice.id) == 1
    assert (await client.get(f"/posts/{kept['id']}", headers=bob.headers)).status_code == 200
    assert await count_rows(app, PostReport) == 0
    entries = (await client.get("/admin/audit-log", headers=admin.headers)).json()
    assert [(entry["action"], entry["target"]) for entry in entries[:2]] == [
        ("delete_post", "Draft"),
        ("delete_post", "Doomed"),
    ]
    missing = await client.request(
        "DELETE", f"/admin/posts/{doomed['id']}", json=A_REASON, headers=admin.headers
    )
    assert missing.status_code == 404


async def test_the_audit_log_outlives_its_actor_and_its_target(
    client: httpx.AsyncClient, app: FastAPI, admin: Account, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(bob, title="Gone")
    await client.request("DELETE", f"/admin/posts/{post['id']}", json=A_REASON, headers=admin.headers)
    await give_role(app, alice.email, Role.ADMIN)

    deleted = await client.request(
        "DELETE", "/users/me", json={"password": admin.password}, headers=admin.headers
    )
    assert deleted.status_code == 204, deleted.text

    newest, deletion = (await client.get("/admin/audit-log?limit=2", headers=alice.headers)).json()
    assert (newest["action"], newest["actor_id"], newest["actor_email"]) == ("set_role", None, None)
    assert (newest["target"], newest["reason"]) == (alice.email, "member to admin, from the command line")
    entry = deletion
    assert (entry["actor_id"], entry["actor_email"]) == (None, admin.email)
    assert (entry["action"], entry["target_id"], entry["target"]) == ("delete_post", post["id"], "Gone")


async def test_a_suspended_accounts_post_cannot_be_reported_by_members(
    client: httpx.AsyncClient, admin: Account, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(alice)
    await client.post(f"/admin/users/{alice.id}/suspend", json=A_REASON, headers=admin.headers)

    assert (await report(client, bob, post["id"])).status_code == 404
    assert (await report(client, admin, post["id"])).status_code == 201
