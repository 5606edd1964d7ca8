"""A test application: a Tk window whose colours and text change on commands from stdin.

Commands (one a line): ``color #rrggbb`` (the big block), ``text WORDS``, ``hide``, ``show``,
``quit``. It prints ``ready`` once shown, and ``click X Y`` / ``key KEYSYM`` for input it gets.
"""

from __future__ import annotations

import sys
import threading
import tkinter as tk

GEOMETRY = (100, 100, 600, 400)  # x, y, width, height on the screen
BLOCK = (50, 50, 250, 200)  # the big block, in window coordinates
SECRET = (350, 50, 550, 150)  # a block the tests mask, in window coordinates


def main() -> None:
    root = tk.Tk()
    x, y, w, h = GEOMETRY
    root.geometry(f"{w}x{h}+{x}+{y}")
    root.overrideredirect(True)
    canvas = tk.Canvas(root, width=w, height=h, bg="#3366cc", highlightthickness=0)
    canvas.pack()
    block = canvas.create_rectangle(*BLOCK, fill="#ff8800", width=0)
    canvas.create_rectangle(*SECRET, fill="#00ff66", width=0)
    label = canvas.create_text(300, 300, text="Hello Coview", font=("Helvetica", 30))
    entry = tk.Entry(root)
    entry.place(x=300, y=340, width=200)

    def on_click(event: tk.Event) -> None:  # type: ignore[type-arg]
        print(f"click {event.x_root} {event.y_root}", flush=True)

    def on_key(event: tk.Event) -> None:  # type: ignore[type-arg]
        print(f"key {event.keysym}", flush=True)

    canvas.bind("<Button-1>", on_click)
    root.bind_all("<Key>", on_key)

    def command(line: str) -> None:
        name, _, arg = line.strip().partition(" ")
        if name == "color":
            canvas.itemconfigure(block, fill=arg)
        elif name == "text":
            canvas.itemconfigure(label, text=arg)
        elif name == "hide":
            root.withdraw()
        elif name == "show":
            root.deiconify()
        elif name == "quit":
            root.destroy()
            return
        root.update_idletasks()
        print(f"done {name}", flush=True)

    def read() -> None:
        for line in sys.stdin:
            root.after(0, command, line)
        root.after(0, root.destroy)

    threading.Thread(target=read, daemon=True).start()
    root.after(300, lambda: print("ready", flush=True))
    root.mainloop()


if __name__ == "__main__":
    main()
