"""Accessibility checks in the browser: axe-core (bundled by axe-playwright-python, never
fetched from a CDN) for WCAG 2.1 A and AA, in the light and the dark colour scheme; and the
keyboard focus ring's contrast, which axe does not measure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SCHEMES = ("light", "dark")

# For the element with keyboard focus: its outline, and the colour the ring is drawn on: the
# first opaque background under a point of the ring (above the element, or below it at the top
# of the page), skipping the element itself, as the ring is drawn outside it.
_FOCUS_RING = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const rect = el.getBoundingClientRect();
  const gap = parseFloat(style.outlineOffset) + parseFloat(style.outlineWidth) / 2;
  const x = rect.left + Math.min(rect.width / 2, 10);
  const y = rect.top - gap >= 0 ? rect.top - gap : rect.bottom + gap;
  let under = document.elementsFromPoint(x, y).find(e => e !== el && !el.contains(e)) || document.documentElement;
  let behind = "rgb(255, 255, 255)";
  for (; under; under = under.parentElement) {
    const bg = getComputedStyle(under).backgroundColor;
    if (bg && bg !== "transparent" && !bg.startsWith("rgba(0, 0, 0, 0)")) { behind = bg; break; }
  }
  return {what: el.tagName + (el.id ? "#" + el.id : "") + " " + (el.textContent || "").trim().slice(0, 30),
          style: style.outlineStyle, width: parseFloat(style.outlineWidth), ring: style.outlineColor, behind};
}"""


def _luminance(rgb: str) -> float:
    parts = [float(p) for p in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    linear = [c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in parts]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS rgb() colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@dataclass
class Audit:
    """Collects what axe and the focus check find over a walk through the app's pages."""

    found: dict[str, list[str]] = field(default_factory=dict)
    pages: list[str] = field(default_factory=list)

    def check(self, page: Any, name: str) -> None:
        """Run axe on the page as it is now, in both colour schemes."""
        from axe_playwright_python.sync_playwright import Axe

        axe = Axe()
        options = {"runOnly": {"type": "tag", "values": WCAG_21_AA}, "resultTypes": ["violations"]}
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            results = axe.run(page, options=options)
            for v in results.response["violations"]:
                where = ", ".join(" ".join(map(str, node["target"])) for node in v["nodes"][:5])
                self.found.setdefault(f"{name} ({scheme})", []).append(f"{v['id']}: {v['help']} [{where}]")
        page.emulate_media(color_scheme="light")
        self.pages.append(name)

    def check_focus(self, page: Any, name: str, stops: int = 40) -> None:
        """Tab through the page; every focused control shows a ring of 3:1 against what is
        next to it (WCAG 1.4.11), in both colour schemes."""
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            page.locator("body").focus()
            page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
            seen = 0
            for _ in range(stops):
                page.keyboard.press("Tab")
                ring = page.evaluate(_FOCUS_RING)
                if ring is None:
                    break
                seen += 1
                ratio = contrast(ring["ring"], ring["behind"])
                if ring["style"] == "none" or ring["width"] < 2 or ratio < 3:
                    drawn = f"{ring['style']} {ring['width']}px {ring['ring']} on {ring['behind']}"
                    self.found.setdefault(f"{name} focus ({scheme})", []).append(
                        f"{ring['what']}: {drawn} = {ratio:.2f}:1"
                    )
            assert seen, f"nothing on {name} takes keyboard focus"
        page.emulate_media(color_scheme="light")

    def report(self) -> str:
        return "\n".join(f"{where}:\n  " + "\n  ".join(items) for where, items in self.found.items())
