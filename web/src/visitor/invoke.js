// Invoking the visitor API from another window (a chat window): postMessage of
// {coview_invoke: {func, args, groupid}} to the visitor's window.
export const INVOKABLE = new Set(["startSession", "stopSession", "showTerms", "pause",
  "setAccessibility"]);

export const InvokeVisitor = {
  wnd: null,
  groupid: null,
  origin: null,

  // wnd: the visitor's window; groupid: the group of its script tag; origin: the visitor
  // page's origin (or host name). Never "*" (issue 14): the window may show another site's
  // page by now, and the message (a session key with it) would go to that page.
  init(wnd, groupid, origin) {
    let target = typeof origin === "string" ? origin.trim() : "";
    if (!target || target === "*") {
      throw new Error("COVIEW.Cobrowse.InvokeVisitor.init needs the visitor page's origin "
        + "(https://www.example.com): a message to '*' could reach any page");
    }
    if (target !== "/" && !/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
      target = `${location.protocol}//${target}`;
    }
    this.wnd = wnd;
    this.groupid = groupid;
    this.origin = target;
  },

  invoke(func, args) {
    if (!this.wnd) throw new Error("call COVIEW.Cobrowse.InvokeVisitor.init first");
    this.wnd.postMessage({ coview_invoke: { func, args, groupid: this.groupid } }, this.origin);
  },
};

// The visitor window's side: calls `api[func](args)` for messages from exactly one of the
// group's trusted origins (asked of `trustedOrigins()`, which waits for the group's
// settings) naming this group.
export function listenForInvoke(api, groupId, trustedOrigins) {
  window.addEventListener("message", async (event) => {
    const data = event.data;
    const call = data && typeof data === "object" ? data.coview_invoke : null;
    if (!call || typeof call !== "object") return;
    if (String(call.groupid) !== String(groupId)) return;
    if (typeof call.func !== "string" || !INVOKABLE.has(call.func)) return;
    const trusted = await trustedOrigins();
    if (!trusted.includes(event.origin)) return;
    api[call.func](call.args);
  });
}
