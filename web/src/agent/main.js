// The agent console: sign in, then the tools the agent's role allows.
import "./agent.css";
import { Api, ApiError } from "./api.js";
import { KEY_INPUT_PATTERN } from "../shared/rules.js";
import { h } from "./dom.js";
import { presenceView } from "./presence.js";
import { sessionView } from "./session.js";
import { settingsView } from "./settings.js";

const api = new Api();
const root = document.getElementById("app");

function signInView(message = "") {
  const error = h("p", { class: "error", testid: "signin-error", role: "alert" }, message);
  const form = h("form", { class: "signin", testid: "signin-form" },
    h("h1", {}, "Coview agent console"),
    h("label", {}, "Group ID",
      h("input", { name: "group_id", inputmode: "numeric", required: true,
        testid: "signin-group", autocomplete: "organization" })),
    h("label", {}, "Username",
      h("input", { name: "username", required: true, testid: "signin-username",
        autocomplete: "username" })),
    h("label", {}, "Password",
      h("input", { name: "password", type: "password", required: true,
        testid: "signin-password", autocomplete: "current-password" })),
    h("button", { type: "submit", testid: "signin-submit" }, "Sign in"),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const groupId = Number(data.get("group_id"));
    if (!Number.isInteger(groupId) || groupId < 1) {
      error.textContent = "The group ID is a whole number, such as 12345.";
      return;
    }
    try {
      const result = await api.call("POST", "/auth/login", {
        group_id: groupId, username: String(data.get("username")),
        password: String(data.get("password")),
      });
      api.setToken(result.token);
      await show();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      error.textContent = err.message;
    }
  });
  root.replaceChildren(form);
}

async function consoleView(me) {
  const agent = me.agent;
  const signOut = h("button", { type: "button", testid: "signout" }, "Sign out");
  signOut.addEventListener("click", () => {
    online.stop();
    api.setToken("");
    signInView();
  });
  const header = h("header", {},
    h("strong", {}, "Coview"),
    h("span", { testid: "whoami" },
      `${agent.display_name} (${agent.username}, ${agent.role}) · group ${me.group_id}`),
    signOut);
  const main = h("main", {});
  root.replaceChildren(header, main);
  const keyInput = h("input", { name: "key", testid: "join-key", required: true,
    placeholder: "Session key", pattern: KEY_INPUT_PATTERN, autocomplete: "off" });
  const join = h("form", { class: "join", testid: "join-form" },
    h("h2", {}, "Join a session"), keyInput,
    h("button", { type: "submit", testid: "join-submit" }, "Join"));
  const tools = h("div", {});
  function openSession(key) {
    const view = sessionView(api, key, () => {
      view.section.remove();
      join.hidden = false;
      online.section.hidden = false;
    });
    join.hidden = true;
    online.section.hidden = true;
    main.insertBefore(view.section, tools);
  }
  const online = presenceView(api, openSession);
  main.append(join, online.section, tools);
  online.start();
  join.addEventListener("submit", (event) => {
    event.preventDefault();
    openSession(keyInput.value.trim());
  });
  if (agent.role === "admin") {
    const settings = settingsView(api);
    tools.append(settings.section);
    await settings.load();
  }
}

async function show() {
  if (!api.token) return signInView();
  try {
    await consoleView(await api.call("GET", "/me"));
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    api.setToken("");
    signInView(err.status === 401 ? "Your session has expired; sign in again." : err.message);
  }
}

show();
