// Agent video and showback in the visitor's page (seed 002, "Screenshare and Agent Video in
// a Custom Visitor UI"). An agent starts a child session of the cobrowse session; the
// visitor's copy of the notice carries a one-time join token, which goes to a viewer page of
// the Coview server (/viewer/child) in the page's iframe with id coview_agentvideo or
// coview_screenshare, or in the default UI's floating one. Every new page of the session gets
// fresh tokens with its welcome, and its viewer takes the seat over from the page it left.

const VIEWS = { agentVideo: "coview_agentvideo", agentVideoHD: "coview_agentvideo",
  showback: "coview_screenshare" };

export class ChildViews {
  // emit(name, detail) fires visitor events; ui is the default UI or null.
  constructor(options, emit, ui) {
    this.options = options;
    this.emit = emit;
    this.ui = ui;
    this.shown = new Map(); // child session key -> {view, frame, agentnum, own}
  }

  // A child session started (state "new") or goes on on this page (state "continued").
  show(notice, state) {
    const view = VIEWS[notice.session_type];
    const key = String(notice.key || "");
    if (!view || !key || !notice.join_token || this.shown.has(key)) return;
    const url = new URL("/viewer/child", this.options.server);
    url.searchParams.set("group_id", String(this.options.groupId));
    url.hash = new URLSearchParams({ key, token: notice.join_token,
      type: notice.session_type }).toString();
    let frame = document.getElementById(view);
    let own = false;
    if (!(frame instanceof HTMLIFrameElement)) {
      frame = this.ui ? this.ui.childFrame(view, notice.session_type) : null;
      own = true;
    }
    if (frame) frame.src = url.href;
    const agentnum = Number(notice.agentnum) || 0;
    this.shown.set(key, { view, frame, agentnum, own });
    this.emit("screenshare", { screenshareView: view, agentnum, state, paused: false,
      params: { type: "forward" } });
  }

  // The child session ended (or this page no longer holds the session).
  end(key) {
    const child = this.shown.get(key);
    if (!child) return;
    this.shown.delete(key);
    if (child.frame) {
      if (child.own) child.frame.remove();
      else child.frame.src = "about:blank";
    }
    this.emit("screenshare", { screenshareView: child.view, agentnum: child.agentnum,
      state: "ended", paused: false, params: { type: "forward" } });
  }

  endAll() {
    for (const key of [...this.shown.keys()]) this.end(key);
  }
}
