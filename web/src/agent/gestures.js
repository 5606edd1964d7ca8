// Gestures: with drawing on, a click on the picture sends a spot and a drag a line; the
// visitor's SDK draws them on the visitor's screen for a few seconds, and so does this layer.
import { h } from "./dom.js";

const COLOR = "#ff2bd6";
const SECONDS = 3;
const MAX_POINTS = 200;

export class GestureLayer {
  constructor(screen, pictureXY, send) {
    this.screen = screen;
    this.pictureXY = pictureXY;
    this.send = send;
    this.on = false;
    this.stroke = null;
    this.shown = [];
    this.layer = h("canvas", { class: "gesture-layer", testid: "gesture-layer" });
    this.toggle = h("button", { type: "button", testid: "gesture-mode",
      onclick: () => this.setOn(!this.on) }, "Draw");
    this.toggle.dataset.on = "false";
    screen.addEventListener("pointerdown", (event) => this.begin(event));
    screen.addEventListener("pointermove", (event) => this.extend(event));
    screen.addEventListener("pointerup", () => this.finish());
  }

  setAllowed(allowed) {
    this.toggle.disabled = !allowed;
    this.toggle.title = allowed ? "" : "The group has turned gestures off.";
    if (!allowed) this.setOn(false);
  }

  setOn(on) {
    this.on = on;
    this.toggle.dataset.on = String(on);
    this.toggle.classList.toggle("active", on);
    this.screen.classList.toggle("drawing", on);
  }

  begin(event) {
    if (!this.on) return;
    this.stroke = [this.pictureXY(event)];
  }

  extend(event) {
    if (!this.stroke || this.stroke.length >= MAX_POINTS) return;
    const p = this.pictureXY(event);
    const last = this.stroke[this.stroke.length - 1];
    if (Math.abs(p.x - last.x) + Math.abs(p.y - last.y) >= 4) this.stroke.push(p);
  }

  finish() {
    const stroke = this.stroke;
    this.stroke = null;
    if (!stroke) return;
    const kind = stroke.length < 3 ? "spot" : "line";
    const points = (kind === "spot" ? stroke.slice(0, 1) : stroke)
      .map((p) => [Math.max(0, p.x), Math.max(0, p.y)]);
    this.send({ t: "gesture", kind, points });
    this.shown.push({ kind, points });
    this.draw();
    setTimeout(() => { this.shown.shift(); this.draw(); }, SECONDS * 1000);
  }

  draw() {
    const { layer, screen } = this;
    layer.width = screen.width;
    layer.height = screen.height;
    const ctx = layer.getContext("2d");
    ctx.clearRect(0, 0, layer.width, layer.height);
    ctx.strokeStyle = COLOR;
    ctx.lineWidth = 6;
    for (const g of this.shown) {
      ctx.beginPath();
      if (g.kind === "spot") {
        ctx.rect(g.points[0][0] - 19, g.points[0][1] - 19, 38, 38);
      } else {
        ctx.moveTo(g.points[0][0], g.points[0][1]);
        for (const [x, y] of g.points.slice(1)) ctx.lineTo(x, y);
      }
      ctx.stroke();
    }
    layer.dataset.count = String(this.shown.length);
  }
}
