// The agent's edits of the replayed page, kept out of it. The replay shows only what the
// visitor's page holds (issue 14): every edit the agent's browser would make there (keys,
// deleting, paste, drop, cut, undo, IME, autofill, a select's or a slider's choice) is
// cancelled or undone, and under remote control it goes to the visitor's page as the field's
// whole new value. The page's recorded answer is then what the agent sees: a masked field
// keeps its mask, and what the page refuses never shows.
//
// The replay lags the agent's keys by a round trip, so the agent's typing builds on a
// `draft` (the value the agent's keys have made of a field, until the page's answer shows it)
// and on a `caret` of its own (the replay's caret moves whenever an answer replaces a value).
import { EventType, IncrementalSource } from "rrweb";

const DRAFT_MS = 2000;
const EDITS = new Set(["insertText", "insertLineBreak", "insertParagraph", "insertFromPaste",
  "insertFromYank", "deleteContent", "deleteContentBackward", "deleteContentForward",
  "deleteWordBackward", "deleteWordForward", "deleteSoftLineBackward", "deleteSoftLineForward",
  "deleteHardLineBackward", "deleteHardLineForward"]);
const FORM_ELEMENTS = Object.getOwnPropertyDescriptor(HTMLFormElement.prototype, "elements")
  .get;
const CARET_KEYS = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End",
  "PageUp", "PageDown"]);

// The form field or editing host a node is in (null: none).
function fieldOf(node) {
  let el = node && node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
  if (!el || el.nodeType !== Node.ELEMENT_NODE) return null;
  if (el.isContentEditable) {
    while (el.parentElement && el.parentElement.isContentEditable) el = el.parentElement;
    return el;
  }
  return ["input", "textarea", "select"].includes(el.localName) ? el : null;
}

function valueOf(el) {
  return el.isContentEditable ? el.textContent : el.value;
}

function isNumber(el) {
  return Boolean(el) && el.localName === "input" && el.type === "number";
}

// The selection in `el` as offsets in its value (the end of it when there is none).
function caretOf(el, value) {
  if (!el.isContentEditable) {
    const start = typeof el.selectionStart === "number" ? el.selectionStart : value.length;
    return [start, typeof el.selectionEnd === "number" ? el.selectionEnd : start];
  }
  const selection = el.ownerDocument.getSelection();
  const range = selection && selection.rangeCount ? selection.getRangeAt(0) : null;
  if (!range || !el.contains(range.startContainer) || !el.contains(range.endContainer)) {
    return [value.length, value.length];
  }
  const offset = (node, at) => {
    const upTo = el.ownerDocument.createRange();
    upTo.selectNodeContents(el);
    upTo.setEnd(node, at);
    return upTo.toString().length;
  };
  return [offset(range.startContainer, range.startOffset),
    offset(range.endContainer, range.endOffset)];
}

// How many characters a deletion of `type` takes from `text`, what lies before the caret
// (backward) or after it.
function reach(text, type, backward) {
  if (type.includes("Word")) return (backward ? /\S*\s*$/ : /^\s*\S*/).exec(text)[0].length;
  if (type.includes("Line")) {
    const stop = backward ? text.lastIndexOf("\n") + 1 : text.indexOf("\n");
    return backward ? text.length - stop : stop < 0 ? text.length : stop;
  }
  const chars = Array.from(backward ? text.slice(-2) : text.slice(0, 2));
  if (!chars.length) return 0;
  return (backward ? chars[chars.length - 1] : chars[0]).length;
}

// The field ({value, start, end}) after an edit of `type` (an InputEvent's inputType) with
// `data`; null if the edit changes nothing.
function afterEdit(base, type, data, multiline) {
  const { value } = base;
  let { start, end } = base;
  if (type.startsWith("insert")) {
    let text = type === "insertLineBreak" || type === "insertParagraph" ? "\n" : data || "";
    if (!multiline) text = text.replace(/[\r\n]/g, "");
    if (!text) return null;
    const caret = start + text.length;
    return { value: value.slice(0, start) + text + value.slice(end), start: caret, end: caret };
  }
  if (start === end && type !== "deleteContent") {
    if (type.endsWith("Backward")) start -= reach(value.slice(0, start), type, true);
    else end += reach(value.slice(end), type, false);
  }
  if (start === end) return null;
  return { value: value.slice(0, start) + value.slice(end), start, end: start };
}

export class Edits {
  // mirror(): the replay's rrweb mirror; send(message): to the visitor's page; control():
  // whether the agent has remote control (without it, edits are only cancelled).
  constructor({ mirror, send, control }) {
    this.mirror = mirror;
    this.send = send;
    this.control = control;
    this.before = new WeakMap(); // field: what the replay last showed in it (the page's)
    this.edited = new Set(); // ids of fields the agent changed since it focused them
    this.reset();
  }

  // A new document: nothing of the last one applies.
  reset() {
    this.draft = null; // {id, value, at}
    this.caret = null; // {id, start, end}
    // A number field the agent steps (spin buttons held, an arrow key down): Chrome reports
    // each step as inserted text that is the field's whole new value.
    this.stepping = null;
    this.composing = null; // {el, base, prior}: an IME composition in a field
    this.edited.clear();
  }

  idOf(node) {
    const mirror = this.mirror();
    return mirror ? mirror.getId(node) : -1;
  }

  // What `el` shows now, and how to put it back after a change that could not be cancelled.
  // In an editing host, nodes the mirror does not know were not made by the visitor's page.
  capture(el) {
    if (!el.isContentEditable) {
      const value = el.value;
      return { value, restore: () => { el.value = value; } };
    }
    const texts = [];
    const walker = el.ownerDocument.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) texts.push([n, n.data]);
    return {
      value: el.textContent,
      restore: () => {
        const added = [];
        const all = el.ownerDocument.createTreeWalker(el, NodeFilter.SHOW_ALL);
        for (let n = all.nextNode(); n; n = all.nextNode()) if (this.idOf(n) < 0) added.push(n);
        for (const n of added) n.remove();
        for (const [n, data] of texts) if (n.data !== data) n.data = data;
      },
    };
  }

  remember(el) {
    this.before.set(el, this.capture(el));
  }

  // The agent put the caret (or a selection) in `el`: its next edit goes there. (While the
  // replay does not show the draft yet, the end of what it shows is the end of the draft.)
  placeCaret(el) {
    const id = this.idOf(el);
    const shown = valueOf(el);
    const [start, end] = caretOf(el, shown);
    const last = this.draft && this.draft.id === id ? this.draft.value.length : shown.length;
    this.caret = { id, start: start === shown.length ? last : start,
      end: end === shown.length ? last : end };
  }

  // The field as the agent's next edit starts from: the draft, or what the replay shows.
  baseOf(el) {
    const id = this.idOf(el);
    const { draft, caret } = this;
    const value = draft && draft.id === id && Date.now() - draft.at < DRAFT_MS
      ? draft.value : valueOf(el);
    const [start, end] = caret && caret.id === id
      ? [Math.min(caret.start, value.length), Math.min(caret.end, value.length)]
      : caretOf(el, value);
    return { id, value, start, end };
  }

  // The field's new value, to the visitor's page.
  sendValue(id, value, start = value.length, end = start) {
    if (!this.control() || id <= 0) return;
    this.draft = { id, value, at: Date.now() };
    this.caret = { id, start, end };
    this.edited.add(id);
    this.send({ t: "input", action: "type", id, value });
  }

  // The agent's edit of `el` (from `base`), to the visitor's page.
  type(el, base, type, data) {
    if (el === this.stepping) {
      if (data) this.sendValue(base.id, data);
      return;
    }
    if (el.localName === "select") return;
    const next = afterEdit(base, type, data, el.localName === "textarea" || el.isContentEditable);
    if (next) this.sendValue(base.id, next.value, next.start, next.end);
  }

  // The agent leaves a field it changed: the page hears `change`, as after a visitor's typing.
  changed(el) {
    const id = this.idOf(el);
    if (this.edited.delete(id) && this.control()) this.send({ t: "input", action: "change", id });
  }

  // An rrweb event the replay applied: a field's value from the page. If it answers the
  // agent's typing, the draft is done once the page holds it, and the replay's caret goes back
  // where the agent's is.
  cast(event) {
    const d = event.data;
    if (event.type !== EventType.IncrementalSnapshot || !d
        || d.source !== IncrementalSource.Input) return;
    const mirror = this.mirror();
    const el = mirror ? fieldOf(mirror.getNode(d.id)) : null;
    if (el) {
      const shown = this.capture(el);
      this.before.set(el, shown);
      if (this.composing && this.composing.el === el) this.composing.prior = shown;
    }
    const { draft, caret } = this;
    if (draft && d.id === draft.id && d.text === draft.value) this.draft = null;
    if (!el || !caret || caret.id !== d.id || el.ownerDocument.activeElement !== el
        || !el.setSelectionRange) return;
    try {
      el.setSelectionRange(Math.min(caret.start, el.value.length),
        Math.min(caret.end, el.value.length));
    } catch (err) {
      // types without a selection (email, number): their caret stays where it is
    }
  }

  // Listen on a replayed document. The agent's own gestures are the trusted events: rrweb
  // replays the visitor's mouse interactions as untrusted ones.
  listen(doc) {
    for (const el of doc.querySelectorAll("input, textarea, select")) this.remember(el);
    const on = (name, fn) => doc.addEventListener(name, fn, true);
    on("mousedown", (e) => {
      const el = e.isTrusted ? fieldOf(e.target) : null;
      if (!el) return;
      this.remember(el);
      if (isNumber(el)) this.stepping = el;
    });
    on("mouseup", (e) => {
      if (!e.isTrusted) return;
      this.stepping = null;
      const el = fieldOf(e.target);
      if (el) this.placeCaret(el);
    });
    on("focusin", (e) => {
      const el = fieldOf(e.target);
      if (!el) return;
      // Autofill fills the form's other fields too. (A form's controls named like its
      // members shadow them: <input name="elements">. Its own getter is not shadowed.)
      for (const field of (el.form && FORM_ELEMENTS.call(el.form)) || [el]) {
        if (fieldOf(field) === field) this.remember(field);
      }
    });
    on("focusout", (e) => {
      const el = fieldOf(e.target);
      if (el) this.changed(el);
    });
    on("keydown", (e) => {
      // Escape would close a dialog of the replay that is open on the visitor's page.
      if (e.key === "Escape") e.preventDefault();
      const el = fieldOf(e.target);
      if (el && !this.composing) this.remember(el);
      if (isNumber(el) && e.isTrusted) this.stepping = CARET_KEYS.has(e.key) ? el : null;
    });
    on("keyup", (e) => {
      if (!e.isTrusted) return;
      this.stepping = null;
      const el = fieldOf(e.target);
      const all = (e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "a";
      if (el && (CARET_KEYS.has(e.key) || e.key === "Tab" || all)) this.placeCaret(el);
    });
    on("cancel", (e) => e.preventDefault()); // a dialog's close request (Escape)
    // Typing, deleting, undo, formatting: cancelled, and sent as the field's new value.
    on("beforeinput", (e) => {
      if (e.inputType === "insertCompositionText") return; // not cancelable: compositionend
      e.preventDefault();
      const el = fieldOf(e.target);
      if (!el || !EDITS.has(e.inputType)) return;
      const data = e.data ?? (e.dataTransfer ? e.dataTransfer.getData("text/plain") : "");
      this.type(el, this.baseOf(el), e.inputType, data);
    });
    on("paste", (e) => {
      e.preventDefault();
      const el = fieldOf(e.target);
      if (el && e.clipboardData) {
        this.type(el, this.baseOf(el), "insertFromPaste", e.clipboardData.getData("text/plain"));
      }
    });
    for (const name of ["cut", "drop", "dragstart"]) on(name, (e) => e.preventDefault());
    // An IME composes in the field itself (that cannot be cancelled): when it ends, the field
    // shows again what the page holds, and the composed text goes to the page as typing.
    on("compositionstart", (e) => {
      const el = fieldOf(e.target);
      if (!el) return;
      this.composing = { el, base: this.baseOf(el), prior: this.capture(el) };
      this.before.set(el, this.composing.prior);
    });
    on("compositionend", (e) => {
      const c = this.composing;
      this.composing = null;
      if (!c || !c.el.isConnected) return;
      c.prior.restore();
      this.type(c.el, c.base, "insertText", e.data);
    });
    // Whatever still changed a field (autofill, a select's or a slider's choice): put back,
    // and sent as the agent's choice.
    on("input", (e) => {
      const el = fieldOf(e.target);
      if (!el || (this.composing && this.composing.el === el)) return;
      const prior = this.before.get(el);
      const value = valueOf(el);
      if (!prior || value === prior.value) return;
      prior.restore();
      this.sendValue(this.idOf(el), value);
    });
    on("change", (e) => {
      const el = fieldOf(e.target);
      if (el && el.localName === "select") this.changed(el);
    });
  }
}
