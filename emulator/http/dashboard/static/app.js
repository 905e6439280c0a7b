// The dashboard's behaviour, in plain JavaScript (no build step, nothing fetched from
// elsewhere). It does three things:
// - keeps the page's live part current: on each server-sent `change` event it fetches
//   the same page's fragment (the server renders and escapes it) and swaps it in;
// - sends what a button or a form asks for to the REST API or /_emulator/, as JSON, so
//   the dashboard changes nothing that the API would not;
// - shows the API's error message when a request fails.
"use strict";

const live = document.getElementById("live");
const flash = document.getElementById("flash");
const status = document.getElementById("live-status");

function say(message, kind) {
  flash.textContent = message;
  flash.className = kind || "";
  flash.hidden = !message;
}

// -- live updates ------------------------------------------------------------------------

let fetching = false;
let again = false;

async function refresh() {
  if (fetching) { again = true; return; }
  fetching = true;
  try {
    const response = await fetch(document.body.dataset.live, {headers: {Accept: "text/html"}});
    if (response.ok || response.status === 404) {
      live.innerHTML = await response.text();  // rendered and escaped by the server
      document.dispatchEvent(new Event("refreshed"));
    }
  } catch (error) {
    // the emulator went away; the event stream reconnects and refreshes again
  } finally {
    fetching = false;
    if (again) { again = false; refresh(); }
  }
}

function listen() {
  const events = new EventSource("/ui/events");
  events.addEventListener("open", () => { status.classList.add("on"); status.title = "live"; });
  events.addEventListener("error", () => {
    status.classList.remove("on");
    status.title = "not connected: retrying";
  });
  events.addEventListener("change", refresh);
}

// -- actions -----------------------------------------------------------------------------

async function call(method, url, body) {
  const init = {method, headers: {Accept: "application/json"}};
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let answer = {};
  try { answer = text ? JSON.parse(text) : {}; } catch (error) { answer = {}; }
  if (!response.ok) {
    const error = answer.error || {};
    throw new Error(`${error.status || response.status}: ${error.message || text}`);
  }
  return answer;
}

async function act(button) {
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  button.disabled = true;
  try {
    await call(button.dataset.method, button.dataset.url, button.dataset.body);
    say("");
    if (button.dataset.then) { window.location.assign(button.dataset.then); return; }
    await refresh();
  } catch (error) {
    say(error.message);
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-url]");
  if (button) { event.preventDefault(); act(button); }
});

function base64(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function headerLines(text) {
  const headers = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf(":");
    if (at < 1) throw new Error(`A header line must be "Name: value": ${line}`);
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return headers;
}

const forms = {
  "create-queue": (data) => {
    const parent = data.get("parent").trim().replace(/\/+$/, "");
    return ["POST", `/v2/${parent}/queues`, {name: `${parent}/queues/${data.get("queue").trim()}`}];
  },
  "create-task": (data, form) => {
    const queue = form.dataset.queue;
    const request = {url: data.get("url"), httpMethod: data.get("method")};
    const headers = headerLines(data.get("headers"));
    if (Object.keys(headers).length) request.headers = headers;
    if (data.get("body")) request.body = base64(data.get("body"));
    const task = {httpRequest: request};
    if (data.get("id").trim()) task.name = `${queue}/tasks/${data.get("id").trim()}`;
    const delay = Number(data.get("delay") || 0);
    if (delay > 0) {  // from the emulator's clock, which may run ahead of this one
      const ahead = Number(document.getElementById("clock").dataset.offsetMs || 0);
      task.scheduleTime = new Date(Date.now() + ahead + delay * 1000).toISOString();
    }
    return ["POST", `/v2/${queue}/tasks`, {task, responseView: "FULL"}];
  },
  "advance": (data) => ["POST", "/_emulator/advance", {seconds: Number(data.get("seconds"))}],
};

document.addEventListener("submit", async (event) => {
  const form = event.target;
  const build = forms[form.dataset.form];
  if (!build) return;  // an ordinary form (the filters): the browser sends it
  event.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const [method, url, body] = build(new FormData(form), form);
    const answer = await call(method, url, body);
    say(answer.name ? `Created ${answer.name}` : answer.now ? `The clock is now ${answer.now}` : "", "info");
    await refresh();
  } catch (error) {
    say(error.message);
  } finally {
    button.disabled = false;
  }
});

document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.requestSubmit();
});

listen();
