// The running session as every page and tab of the site sees it (localStorage): a new page
// continues it, another tab takes it over, and all of them learn when it ends.
const PREFIX = "coview.cobrowse.";

export class SessionStore {
  constructor(groupId) {
    this.name = PREFIX + groupId;
  }

  read() {
    try {
      const value = JSON.parse(localStorage.getItem(this.name) || "null");
      return value && typeof value === "object" ? value : null;
    } catch (err) {
      return null;
    }
  }

  write(value) {
    try {
      localStorage.setItem(this.name, JSON.stringify(value));
    } catch (err) {
      // Storage full or refused (private mode): the session still runs on this page.
    }
  }

  update(changes) {
    const current = this.read();
    if (current && current.session) this.write({ ...current, ...changes });
  }

  clear(reason) {
    this.write({ ended: reason || "visitor", at: Date.now() });
  }

  onChange(fn) {
    window.addEventListener("storage", (event) => {
      if (event.key === this.name) fn(this.read());
    });
  }
}
