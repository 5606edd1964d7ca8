// The admin's settings editor: staging fields, per-field errors, publish to production.
import { ApiError } from "./api.js";
import { h } from "./dom.js";

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
    name, rows: Math.min(12, text.split("\n").length + 1), spellcheck: false,
    testid: `setting-${name}`,
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

export function settingsView(api) {
  const status = h("p", { class: "status", testid: "settings-status", role: "status" });
  const form = h("form", { class: "settings", testid: "settings-form" });
  const saveButton = h("button", { type: "submit", testid: "settings-save" }, "Save to staging");
  const publishButton = h("button", { type: "button", testid: "settings-publish" },
    "Publish to production");
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
      api.call("GET", "/settings"), api.call("GET", "/settings/production")]);
    staging = stage.settings;
    const unpublished = JSON.stringify(stage.settings) !== JSON.stringify(production.settings);
    status.textContent = unpublished
      ? "Staging has changes that are not published yet."
      : "Staging and production are the same.";
    status.dataset.unpublished = String(unpublished);
    form.replaceChildren(...Object.entries(staging).map(([name, value]) =>
      h("label", { class: "field" },
        h("span", { class: "field-name" }, name.replaceAll("_", " ")),
        fieldInput(name, value),
        h("span", { class: "field-error", "data-error-for": name, testid: `error-${name}` }))),
    h("div", { class: "actions" }, saveButton, publishButton));
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
          throw new ApiError(422, { error: { message: "invalid JSON",
            fields: { [name]: "not valid JSON" } } });
        }
      }
      await api.call("PUT", "/settings", changes);
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
      const result = await api.call("POST", "/settings/publish");
      await load();
      status.textContent = result.changed.length
        ? `Published: ${result.changed.join(", ")}.`
        : "Published (nothing had changed).";
      status.dataset.unpublished = "false";
    } catch (err) {
      status.textContent = err.message;
    }
  });

  const section = h("section", { testid: "settings" },
    h("h2", {}, "Group settings"),
    h("p", {}, "Edit staging, then publish to production, where sessions use it."),
    status, form);
  return { section, load };
}
