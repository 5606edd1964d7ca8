// Masking rules, applied on the visitor's device before anything is sent (docs/cobrowse.md).
//
// - every input value is masked unless the group turned `mask_all_inputs` off or the field
//   (or an ancestor) carries data-coview-unmask; passwords always, even after a "show
//   password" toggle turns them into text fields;
// - the group's masking selectors and data-coview-mask mask text and values of the matched
//   elements and everything inside them;
// - data-coview-block elements are never captured (an empty box of the same size), nor are
//   the frames that show the agent's video or screen (their addresses carry join tokens).
export const MASK = "******";
export const BLOCK_SELECTOR =
  "[data-coview-block], #coview_agentvideo, #coview_screenshare, [data-coview-child]";
const UNMASK = "[data-coview-unmask]";
const FIELD_TYPES = ["text", "password", "hidden", "email", "number", "search", "tel", "url",
  "date", "datetime-local", "month", "time", "week", "color", "range", "textarea", "select"];
const NOT_VALUES = new Set(["checkbox", "radio", "button", "submit", "reset", "image", "file"]);

export class Masking {
  // `selectors`: the group's masking selectors; `maskAllInputs`: the group's setting.
  constructor(selectors, maskAllInputs) {
    this.errors = [];
    const valid = [];
    for (const selector of selectors || []) {
      try {
        document.createDocumentFragment().querySelector(selector);
        valid.push(selector);
      } catch (err) {
        this.errors.push(selector);
      }
    }
    // A rule that cannot be applied must not let anything through: mask all text then.
    this.maskEverything = this.errors.length > 0;
    this.maskAllInputs = maskAllInputs !== false || this.maskEverything;
    this.selector = ["[data-coview-mask]", ...valid].join(", ");
    const text = [this.selector];
    if (this.maskAllInputs) {
      text.push(`textarea:not(${UNMASK})`, `[contenteditable]:not([contenteditable="false"]):not(${UNMASK})`);
    }
    this.textSelector = this.maskEverything ? "*" : text.join(", ");
  }

  isPassword(el) {
    return Boolean(el && el.getAttribute && (
      (el.getAttribute("type") || "").toLowerCase() === "password"
      || el.hasAttribute("data-rr-is-password")));
  }

  // Whether the value of the form field `el` must be hidden.
  masksValue(el) {
    if (!el || !el.closest) return true;
    if (this.isPassword(el) || this.maskEverything) return true;
    if (el.closest(this.selector) || el.closest(BLOCK_SELECTOR)) return true;
    if (!this.maskAllInputs) return false;
    return !el.closest(UNMASK);
  }

  // Whether the value attribute of `el` holds what the visitor enters (not a button's label
  // or a checkbox's token) and must be hidden.
  masksValueAttribute(el) {
    if (!el || !el.tagName) return false;
    const tag = el.tagName;
    if (tag === "INPUT") {
      if (NOT_VALUES.has((el.getAttribute("type") || "").toLowerCase())) return false;
    } else if (tag !== "TEXTAREA" && tag !== "SELECT") {
      return false;
    }
    return this.masksValue(el);
  }

  // Whether the agent may not act on `el` (remote control): masked fields, masked or blocked
  // regions. Buttons, checkboxes and links outside them are fine.
  refusesControl(el) {
    if (!el || !el.closest) return true;
    if (this.maskEverything || el.closest(this.selector) || el.closest(BLOCK_SELECTOR)) {
      return true;
    }
    if (el.closest("[data-coview-ui]")) return true; // the visitor's own consent controls
    const tag = el.tagName;
    const field = tag === "TEXTAREA" || tag === "SELECT"
      || (tag === "INPUT" && !NOT_VALUES.has((el.getAttribute("type") || "").toLowerCase()));
    const editable = el.isContentEditable;
    return (field || editable) && (this.isPassword(el) || this.masksValue(el));
  }

  // The rrweb options that carry these rules.
  recordOptions() {
    const maskInputOptions = {};
    for (const type of FIELD_TYPES) maskInputOptions[type] = true;
    return {
      maskInputOptions,
      maskInputFn: (text, el) => (text && this.masksValue(el) ? MASK : text),
      maskTextSelector: this.textSelector,
      blockSelector: BLOCK_SELECTOR,
    };
  }

  // Option values and labels of a masked select say what the visitor may choose: removed.
  scrubOption(el, attributes) {
    const select = el && el.closest ? el.closest("select") : null;
    if (!select || !(this.maskEverything || select.closest(this.selector))) return;
    for (const name of ["value", "label", "selected"]) delete attributes[name];
  }
}
