// DOM clobbering (issue 14): a named <img>, <form>, <embed>, <iframe> or <object> becomes a
// property of its document that shadows the document's own member of that name
// (<img name="querySelectorAll">). rrweb and the viewer call those members on the replayed
// document: shadowed, they throw, the replay stops for good (rrweb's live timer dies with
// the exception) and the viewer's guard against the agent's clicks and keys is never set.
// So such names (and the ids that a document exposes too: an <object>'s, a named <img>'s)
// never reach the replay: the element keeps the value as data-coview-name or data-coview-id.
const NAMED = new Set(["img", "form", "embed", "iframe", "object"]);
const BY_ID = new Set(["img", "object"]);

function shadows(value) {
  return typeof value === "string" && value !== "" && value in document;
}

export class Clobbering {
  constructor() {
    this.tags = new Map(); // rrweb node id: tag name, for later attribute changes
  }

  // A new page: ids start over.
  reset() {
    this.tags.clear();
  }

  scrubAttributes(tag, attributes) {
    if (!NAMED.has(tag) || !attributes || typeof attributes !== "object") return;
    for (const key of BY_ID.has(tag) ? ["name", "id"] : ["name"]) {
      if (shadows(attributes[key])) {
        attributes[`data-coview-${key}`] = attributes[key];
        attributes[key] = null; // rrweb removes an attribute set to null
      }
    }
  }

  // A serialized node and everything inside it.
  scrubNode(node) {
    const stack = [node];
    while (stack.length) {
      const n = stack.pop();
      if (!n || typeof n !== "object") continue;
      if (n.type === 2 && typeof n.tagName === "string") {
        const tag = n.tagName.toLowerCase();
        this.tags.set(n.id, tag);
        this.scrubAttributes(tag, n.attributes);
      }
      if (Array.isArray(n.childNodes)) stack.push(...n.childNodes);
    }
  }

  // An rrweb event, changed in place before the replay applies it.
  scrub(event) {
    const d = event && event.data;
    if (!d || typeof d !== "object") return;
    if (event.type === 2) {
      this.reset();
      this.scrubNode(d.node);
    } else if (event.type === 3 && d.source === 0) {
      for (const add of Array.isArray(d.adds) ? d.adds : []) if (add) this.scrubNode(add.node);
      for (const change of Array.isArray(d.attributes) ? d.attributes : []) {
        if (change) this.scrubAttributes(this.tags.get(change.id), change.attributes);
      }
    }
  }
}
