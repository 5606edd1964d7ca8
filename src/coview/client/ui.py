"""The SDK's own windows (Tk): monitor numbers now; the default session window follows."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from coview.client.capture import Display


def identify_monitors(displays: Sequence[Display], seconds: float) -> None:
    """Show each monitor's number, large, in a borderless window on it, for ``seconds``."""

    def run() -> None:
        import tkinter as tk

        root = tk.Tk()
        root.withdraw()
        for display in displays:
            window = tk.Toplevel(root)
            window.overrideredirect(True)
            size = 220
            x = display.rect.x + (display.rect.w - size) // 2
            y = display.rect.y + (display.rect.h - size) // 2
            window.geometry(f"{size}x{size}+{x}+{y}")
            window.configure(background="#1d2330")
            tk.Label(window, text=str(display.index + 1), fg="white", bg="#1d2330",
                     font=("Helvetica", 140, "bold")).pack(expand=True)
        root.after(int(seconds * 1000), root.destroy)
        root.mainloop()

    threading.Thread(target=run, name="coview-identify", daemon=True).start()
