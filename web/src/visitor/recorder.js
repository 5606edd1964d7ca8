// The page, recorded with rrweb under the masking rules and sent in batches as `dom` frames:
// a batch that starts a page's full snapshot says so (`full`), so that the server can keep
// the latest snapshot and what followed for agents who join late.
import { record, takeFullSnapshot, EventType, IncrementalSource } from "rrweb";
import { MASK } from "./masking.js";

const BATCH_MS = 30;
const MAX_BATCH_BYTES = 15 * 1024 * 1024; // under the server's 16 MiB visitor frame limit
const KEYFRAME_GAP_MS = 1000;
const encoder = new TextEncoder();

export class Recorder {
  // send(header, payload) sends a reliable frame; onError(code, msg) reports a failure.
  constructor(masking, send, onError) {
    this.masking = masking;
    this.send = send;
    this.onError = onError;
    this.batch = [];
    this.full = false;
    this.timer = 0;
    this.stopFn = null;
    this.lastFull = 0;
    this.snapshotTimer = 0;
  }

  get running() {
    return this.stopFn !== null;
  }

  start() {
    if (this.stopFn) return;
    this.stopFn = record({
      emit: (event) => this.add(event),
      ...this.masking.recordOptions(),
      inlineStylesheet: true,
      recordCanvas: false,
      collectFonts: false,
      sampling: { mousemove: 50, mousemoveCallback: 100, scroll: 100 },
      slimDOMOptions: { script: true, comment: true, headMetaDescKeywords: true },
      errorHandler: () => true,
    }) || null;
  }

  stop() {
    clearTimeout(this.snapshotTimer);
    this.snapshotTimer = 0;
    if (this.stopFn) this.stopFn();
    this.stopFn = null;
    this.flush();
  }

  // A fresh full snapshot (an agent joined, or asked for one), at most once a second:
  // requests close together share one.
  snapshot() {
    if (!this.stopFn || this.snapshotTimer) return;
    const wait = Math.max(0, this.lastFull + KEYFRAME_GAP_MS - Date.now());
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = 0;
      if (this.stopFn) takeFullSnapshot(true);
    }, wait);
  }

  add(event) {
    if (event.type === EventType.Meta) {
      // A full snapshot begins (Meta, then FullSnapshot): it starts a batch of its own.
      this.flush();
      this.full = true;
      this.lastFull = Date.now();
    }
    this.scrub(event);
    this.batch.push(event);
    if (!this.timer) this.timer = setTimeout(() => this.flush(), BATCH_MS);
  }

  flush() {
    clearTimeout(this.timer);
    this.timer = 0;
    if (!this.batch.length) return;
    const payload = encoder.encode(JSON.stringify(this.batch));
    const full = this.full;
    this.batch = [];
    this.full = false;
    if (payload.length > MAX_BATCH_BYTES) {
      this.onError("service", "the page is too large to share");
      return;
    }
    this.send({ t: "dom", full }, payload);
  }

  // What rrweb has no option for: option values of masked selects, and the value attribute
  // of a masked field that the visitor emptied (rrweb masks a value, but sends the attribute,
  // the default the page filled in, as it is when the value is empty: issue 14).
  scrub(event) {
    if (event.type === EventType.FullSnapshot) {
      this.scrubNode(event.data.node);
    } else if (event.type === EventType.IncrementalSnapshot
      && event.data.source === IncrementalSource.Mutation) {
      for (const add of event.data.adds || []) this.scrubNode(add.node);
      for (const change of event.data.attributes || []) {
        const el = record.mirror.getNode(change.id);
        if (el && el.tagName === "OPTION") this.masking.scrubOption(el, change.attributes);
      }
    }
  }

  scrubNode(node) {
    const stack = [node];
    while (stack.length) {
      const n = stack.pop();
      if (!n) continue;
      if (n.tagName === "option" && n.attributes) {
        this.masking.scrubOption(record.mirror.getNode(n.id), n.attributes);
      }
      if (n.attributes && typeof n.attributes.value === "string" && n.attributes.value
          && n.attributes.value !== MASK) {
        const el = record.mirror.getNode(n.id);
        if (this.masking.masksValueAttribute(el)) n.attributes.value = el.value ? MASK : "";
      }
      if (n.childNodes) stack.push(...n.childNodes);
    }
  }
}
