// Remote control: the agent's clicks and typing acted out on the real page, element by
// element (rrweb node IDs), never on masked or blocked elements or on Coview's own controls.
import { record } from "rrweb";

// The value setter of the element's own prototype: frameworks that track values (React's
// controlled inputs) see the change as the user's and run their handlers.
function setNativeValue(el, value) {
  const proto = Object.getPrototypeOf(el);
  const descriptor = Object.getOwnPropertyDescriptor(proto, "value");
  if (descriptor && descriptor.set) descriptor.set.call(el, value);
  else el.value = value;
}

function pointer(el, type) {
  const box = el.getBoundingClientRect();
  const init = { bubbles: true, cancelable: true, composed: true, view: window,
    clientX: box.left + box.width / 2, clientY: box.top + box.height / 2, button: 0 };
  const Ctor = type.startsWith("pointer") && window.PointerEvent ? PointerEvent : MouseEvent;
  el.dispatchEvent(new Ctor(type, init));
}

// Path the seed's agent-action event gives: `[data-gid="N"]`, set on the element on first use.
function gidPath(el, id) {
  if (!el.hasAttribute("data-gid")) el.setAttribute("data-gid", String(id));
  return `[data-gid="${el.getAttribute("data-gid")}"]`;
}

// Act out one `input` message; returns {event} for the agent-action event, or {refused}.
export function perform(masking, message) {
  const id = Number(message.id);
  const el = Number.isInteger(id) ? record.mirror.getNode(id) : null;
  if (!el || el.nodeType !== Node.ELEMENT_NODE || !el.isConnected) {
    return { refused: "the element is no longer on the page" };
  }
  if (masking.refusesControl(el)) return { refused: "the element is masked" };
  const path = gidPath(el, id);
  switch (message.action) {
    case "click": {
      if (typeof el.focus === "function") el.focus({ preventScroll: true });
      for (const type of ["pointerdown", "mousedown", "pointerup", "mouseup"]) pointer(el, type);
      el.click();
      return { event: { type: "click", path, value: undefined } };
    }
    case "type": {
      const value = String(message.value ?? "").slice(0, 10000);
      if (el.isContentEditable) {
        el.textContent = value;
      } else if ("value" in el) {
        if (typeof el.focus === "function") el.focus({ preventScroll: true });
        setNativeValue(el, value);
      } else {
        return { refused: "the element takes no text" };
      }
      el.dispatchEvent(new Event("input", { bubbles: true, composed: true }));
      return { event: { type: "agenttyping", path, value } };
    }
    case "change":
      el.dispatchEvent(new Event("change", { bubbles: true }));
      return { event: { type: "inputchange", path, value: undefined } };
    default:
      return { refused: `unknown action ${String(message.action).slice(0, 20)}` };
  }
}
