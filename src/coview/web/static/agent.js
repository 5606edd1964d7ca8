(() => {
  // src/agent/api.js
  var ApiError = class extends Error {
    constructor(status, body) {
      const error = body && body.error || {};
      super(error.message || `request failed (${status})`);
      this.status = status;
      this.code = error.code || "error";
      this.fields = error.fields || {};
    }
  };
  var Api = class {
    constructor() {
      this.token = sessionStorage.getItem("coview.token") || "";
    }
    setToken(token) {
      this.token = token;
      if (token) sessionStorage.setItem("coview.token", token);
      else sessionStorage.removeItem("coview.token");
    }
    async call(method, path, body) {
      const headers = { Accept: "application/json" };
      if (this.token) headers.Authorization = `Bearer ${this.token}`;
      if (body !== void 0) headers["Content-Type"] = "application/json";
      let response;
      try {
        response = await fetch(`/api/v1${path}`, {
          method,
          headers,
          body: body === void 0 ? void 0 : JSON.stringify(body)
        });
      } catch (err) {
        throw new ApiError(0, { error: { code: "network", message: "cannot reach the server" } });
      }
      const data = await response.json().catch(() => null);
      if (!response.ok) throw new ApiError(response.status, data);
      return data;
    }
  };

  // src/agent/dom.js
  function h(tag, props = {}, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === void 0 || value === null || value === false) continue;
      if (key === "testid") el.dataset.testid = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "class") el.className = value;
      else if (key in el && typeof value !== "string") el[key] = value;
      else el.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === void 0 || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  // src/agent/settings.js
  function fieldInput(name, value) {
    if (typeof value === "boolean") {
      return h("input", { type: "checkbox", name, checked: value, testid: `setting-${name}` });
    }
    if (typeof value === "number") {
      return h("input", { type: "number", name, value: String(value), testid: `setting-${name}` });
    }
    if (typeof value === "string") {
      return h("input", { type: "text", name, value, testid: `setting-${name}` });
    }
    const text = JSON.stringify(value, null, 2);
    return h("textarea", {
      name,
      rows: Math.min(12, text.split("\n").length + 1),
      spellcheck: false,
      testid: `setting-${name}`
    }, text);
  }
  function readInput(input, original) {
    if (typeof original === "boolean") return input.checked;
    if (typeof original === "number") {
      return input.value.trim() === "" ? input.value : Number(input.value);
    }
    if (typeof original === "string") return input.value;
    return JSON.parse(input.value);
  }
  function settingsView(api2) {
    const status = h("p", { class: "status", testid: "settings-status", role: "status" });
    const form = h("form", { class: "settings", testid: "settings-form" });
    const saveButton = h("button", { type: "submit", testid: "settings-save" }, "Save to staging");
    const publishButton = h(
      "button",
      { type: "button", testid: "settings-publish" },
      "Publish to production"
    );
    let staging = null;
    function showErrors(fields) {
      for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
      for (const [path, message] of Object.entries(fields)) {
        const top = path.split(".")[0];
        const slot = form.querySelector(`[data-error-for="${CSS.escape(top)}"]`);
        if (slot) slot.textContent = slot.textContent ? `${slot.textContent}; ${message}` : message;
        else status.textContent = `${path}: ${message}`;
      }
    }
    async function load() {
      const [stage, production] = await Promise.all([
        api2.call("GET", "/settings"),
        api2.call("GET", "/settings/production")
      ]);
      staging = stage.settings;
      const unpublished = JSON.stringify(stage.settings) !== JSON.stringify(production.settings);
      status.textContent = unpublished ? "Staging has changes that are not published yet." : "Staging and production are the same.";
      status.dataset.unpublished = String(unpublished);
      form.replaceChildren(
        ...Object.entries(staging).map(([name, value]) => h(
          "label",
          { class: "field" },
          h("span", { class: "field-name" }, name.replaceAll("_", " ")),
          fieldInput(name, value),
          h("span", { class: "field-error", "data-error-for": name, testid: `error-${name}` })
        )),
        h("div", { class: "actions" }, saveButton, publishButton)
      );
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const changes = {};
      try {
        for (const [name, original] of Object.entries(staging)) {
          const input = form.elements.namedItem(name);
          try {
            changes[name] = readInput(input, original);
          } catch {
            throw new ApiError(422, { error: {
              message: "invalid JSON",
              fields: { [name]: "not valid JSON" }
            } });
          }
        }
        await api2.call("PUT", "/settings", changes);
        await load();
        status.textContent = "Saved to staging. " + status.textContent;
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        status.textContent = err.message;
        showErrors(err.fields);
        const first = form.querySelector(".field-error:not(:empty)") || status;
        first.scrollIntoView({ block: "center" });
      }
    });
    publishButton.addEventListener("click", async () => {
      try {
        const result = await api2.call("POST", "/settings/publish");
        await load();
        status.textContent = result.changed.length ? `Published: ${result.changed.join(", ")}.` : "Published (nothing had changed).";
        status.dataset.unpublished = "false";
      } catch (err) {
        status.textContent = err.message;
      }
    });
    const section = h(
      "section",
      { testid: "settings" },
      h("h2", {}, "Group settings"),
      h("p", {}, "Edit staging, then publish to production, where sessions use it."),
      status,
      form
    );
    return { section, load };
  }

  // src/agent/main.js
  var api = new Api();
  var root = document.getElementById("app");
  function signInView(message = "") {
    const error = h("p", { class: "error", testid: "signin-error", role: "alert" }, message);
    const form = h(
      "form",
      { class: "signin", testid: "signin-form" },
      h("h1", {}, "Coview agent console"),
      h(
        "label",
        {},
        "Group ID",
        h("input", {
          name: "group_id",
          inputmode: "numeric",
          required: true,
          testid: "signin-group",
          autocomplete: "organization"
        })
      ),
      h(
        "label",
        {},
        "Username",
        h("input", {
          name: "username",
          required: true,
          testid: "signin-username",
          autocomplete: "username"
        })
      ),
      h(
        "label",
        {},
        "Password",
        h("input", {
          name: "password",
          type: "password",
          required: true,
          testid: "signin-password",
          autocomplete: "current-password"
        })
      ),
      h("button", { type: "submit", testid: "signin-submit" }, "Sign in"),
      error
    );
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
          group_id: groupId,
          username: String(data.get("username")),
          password: String(data.get("password"))
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
      api.setToken("");
      signInView();
    });
    const header = h(
      "header",
      {},
      h("strong", {}, "Coview"),
      h(
        "span",
        { testid: "whoami" },
        `${agent.display_name} (${agent.username}, ${agent.role}) \xB7 group ${me.group_id}`
      ),
      signOut
    );
    const main = h("main", {});
    root.replaceChildren(header, main);
    if (agent.role === "admin") {
      const settings = settingsView(api);
      main.append(settings.section);
      await settings.load();
    } else {
      main.append(h(
        "p",
        { testid: "no-tools" },
        "You are signed in. Sessions you join will open here."
      ));
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
})();
