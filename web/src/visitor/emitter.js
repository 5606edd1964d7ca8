// Event listeners of the visitor API: addEventListener(name, fn) / removeEventListener.
export class Emitter {
  constructor() {
    this.listeners = new Map();
  }

  add(name, fn) {
    if (typeof fn !== "function") return;
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
  }

  remove(name, fn) {
    const set = this.listeners.get(name);
    if (set) set.delete(fn);
  }

  has(name) {
    const set = this.listeners.get(name);
    return Boolean(set && set.size);
  }

  emit(name, detail) {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(detail);
      } catch (err) {
        // A listener's failure must not stop the session or the other listeners.
        setTimeout(() => { throw err; });
      }
    }
  }
}
