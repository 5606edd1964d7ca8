// The live view of a cobrowse session: the visitor's page replayed in the page viewer
// (/viewer/cobrowse, framed here), navigation, pause, gestures and remote control.
import { h } from "./dom.js";

const decoder = new TextDecoder();

export class CobrowseStage {
  // send(message): a reliable message to the visitor.
  constructor(groupId, send) {
    this.send = send;
    this.rc = false;
    this.gesture = false;
    this.pending = [];
    this.viewer = null;
    this.frame = h("iframe", { class: "page-view", testid: "cobrowse-view",
      title: "The visitor's page", src: `/viewer/cobrowse?group_id=${encodeURIComponent(groupId)}` });
    this.frame.addEventListener("load", () => this.attach());
    this.url = h("input", { testid: "navigate-url", placeholder: "Page of the visitor's site" });
    this.location = h("span", { class: "location", testid: "cobrowse-location" }, "");
    this.gestureButton = h("button", { type: "button", testid: "cobrowse-gesture",
      onclick: () => this.setGesture(!this.gesture) }, "Draw");
    this.pauseButton = h("button", { type: "button", testid: "cobrowse-pause",
      onclick: () => send({ t: "pause", paused: this.pauseButton.dataset.paused !== "true" }) },
    "Pause");
    this.releaseButton = h("button", { type: "button", testid: "rc-release", hidden: true,
      onclick: () => send({ t: "rc_release" }) }, "Give back control");
    const go = h("button", { type: "button", testid: "navigate-go", onclick: () => {
      if (this.url.value) send({ t: "navigate", url: this.url.value });
    } }, "Go");
    const back = h("button", { type: "button", testid: "navigate-back",
      onclick: () => send({ t: "navigate", history: "back" }) }, "Back");
    const forward = h("button", { type: "button", testid: "navigate-forward",
      onclick: () => send({ t: "navigate", history: "forward" }) }, "Forward");
    this.tools = h("div", { class: "cobrowse-tools" }, this.location, back, forward, this.url,
      go, this.gestureButton, this.pauseButton, this.releaseButton);
  }

  attach() {
    const viewer = this.frame.contentWindow && this.frame.contentWindow.coviewViewer;
    if (!viewer) return;
    this.viewer = viewer;
    viewer.onAction = (message) => this.send(message);
    viewer.setMode({ control: this.rc, gesture: this.gesture });
    const pending = this.pending;
    this.pending = [];
    for (const list of pending) this.add(list);
  }

  // A `dom` message: its payload is a JSON array of rrweb events, passed on untouched.
  dom(payload) {
    let list;
    try {
      list = JSON.parse(decoder.decode(payload));
    } catch (err) {
      return;
    }
    if (!Array.isArray(list)) return;
    if (this.viewer) this.add(list);
    else this.pending.push(list);
  }

  add(list) {
    for (const event of list) {
      if (event && event.type === 4 && event.data && typeof event.data.href === "string") {
        this.location.textContent = event.data.href;
      }
    }
    this.viewer.add(list);
  }

  setRc(enabled) {
    this.rc = enabled;
    this.releaseButton.hidden = !enabled;
    if (this.viewer) this.viewer.setMode({ control: enabled });
  }

  setGesture(on) {
    this.gesture = on;
    this.gestureButton.setAttribute("aria-pressed", String(on));
    if (this.viewer) this.viewer.setMode({ gesture: on });
  }

  // `by`: who paused. An agent's pause is the agents' to lift; the visitor's is not (the
  // server and the visitor's page refuse it), so the button says so instead of offering it.
  setPaused(paused, by) {
    const visitors = paused && by !== "agent";
    this.pauseButton.dataset.paused = String(paused);
    this.pauseButton.disabled = visitors;
    this.pauseButton.textContent = visitors ? "Paused by the visitor" : paused ? "Resume" : "Pause";
    this.pauseButton.title = visitors ? "Only the visitor can resume this pause" : "";
  }
}
