// Voting without a page reload: progressive enhancement of the vote forms, which work without it.
// The form is posted as it is (its CSRF token included), asking for JSON; the answer's count and state
// update the form in place. Anything else than a JSON answer falls back to posting the form as a page.
"use strict";

function votesText(count) {
  return count + (count === 1 ? " vote" : " votes");
}

function showVote(form, answer) {
  form.querySelector(".count").textContent = votesText(answer.votes);
  form.querySelector('input[name="dir"]').value = answer.voted ? "0" : "1";
  const button = form.querySelector('button[type="submit"]');
  button.textContent = answer.voted ? "Take back my vote" : "Vote";
  button.setAttribute("aria-pressed", answer.voted ? "true" : "false");
}

async function sendVote(event) {
  const form = event.currentTarget;
  event.preventDefault();
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok || !type.startsWith("application/json")) {
      form.submit(); // the page tells what went wrong
      return;
    }
    showVote(form, await response.json());
  } catch (error) {
    form.submit();
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form.vote")) {
    form.addEventListener("submit", sendVote);
  }
});
