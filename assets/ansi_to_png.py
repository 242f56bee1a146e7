"""Render a terminal capture with ANSI colours (`tmux capture-pane -e -p`) as a PNG.

    python3 assets/ansi_to_png.py CAPTURE.ansi OUT.png [COLUMNS ROWS]

Used by assets/screenshot.sh; needs Pillow and the DejaVu Sans Mono font.
"""
import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
SIZE = 15
BG = (24, 26, 33)
FG = (216, 218, 224)
# The 16 basic colours (a dark theme close to common terminal defaults).
BASIC = [
    (40, 42, 54), (230, 90, 90), (120, 200, 110), (230, 200, 100),
    (100, 150, 240), (200, 120, 220), (90, 200, 220), (200, 200, 200),
    (110, 110, 120), (255, 120, 120), (150, 230, 140), (250, 225, 130),
    (140, 180, 255), (225, 150, 245), (130, 225, 240), (255, 255, 255),
]


def xterm256(n):
    if n < 16:
        return BASIC[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


def parse(text):
    """Rows of cells (char, fg, bg, bold)."""
    rows = []
    fg, bg, bold, rev = None, None, False, False
    for line in text.split("\n"):
        row = []
        i = 0
        while i < len(line):
            m = re.match(r"\x1b\[([0-9;]*)m", line[i:])
            if m:
                codes = [int(c) if c else 0 for c in m.group(1).split(";")]
                j = 0
                while j < len(codes):
                    c = codes[j]
                    if c == 0:
                        fg, bg, bold, rev = None, None, False, False
                    elif c == 1:
                        bold = True
                    elif c == 22:
                        bold = False
                    elif c == 7:
                        rev = True
                    elif c == 27:
                        rev = False
                    elif 30 <= c <= 37:
                        fg = BASIC[c - 30]
                    elif 90 <= c <= 97:
                        fg = BASIC[c - 90 + 8]
                    elif c == 39:
                        fg = None
                    elif 40 <= c <= 47:
                        bg = BASIC[c - 40]
                    elif 100 <= c <= 107:
                        bg = BASIC[c - 100 + 8]
                    elif c == 49:
                        bg = None
                    elif c in (38, 48) and j + 1 < len(codes):
                        if codes[j + 1] == 5 and j + 2 < len(codes):
                            col = xterm256(codes[j + 2])
                            j += 2
                        elif codes[j + 1] == 2 and j + 4 < len(codes):
                            col = tuple(codes[j + 2 : j + 5])
                            j += 4
                        else:
                            col = None
                        if c == 38:
                            fg = col
                        else:
                            bg = col
                    j += 1
                i += m.end()
                continue
            if line[i] == "\x1b":
                m = re.match(r"\x1b\[[0-9;?]*[A-Za-z]", line[i:])
                i += m.end() if m else 1
                continue
            f, b = fg or FG, bg or BG
            if rev:
                f, b = b, f
            row.append((line[i], f, b, bold))
            i += 1
        rows.append(row)
    return rows


# Braille cells are drawn as dots (2 columns, 4 rows), since monospace fonts often lack them.
BRAILLE_DOTS = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3), (1, 3)]


def braille(d, bits, px, py, cw, ch, colour):
    r = max(1, cw // 6)
    for bit, (col, row) in enumerate(BRAILLE_DOTS):
        if bits & (1 << bit):
            x = px + (col * 2 + 1) * cw / 4
            y = py + (row * 2 + 1) * ch / 8
            d.ellipse([x - r, y - r, x + r, y + r], fill=colour)


def main():
    src, out = sys.argv[1], sys.argv[2]
    rows = parse(open(src, encoding="utf-8").read().rstrip("\n"))
    cols = int(sys.argv[3]) if len(sys.argv) > 3 else max(len(r) for r in rows)
    nrows = int(sys.argv[4]) if len(sys.argv) > 4 else len(rows)
    font = ImageFont.truetype(FONT, SIZE)
    bold = ImageFont.truetype(BOLD, SIZE)
    left, top, right, bottom = font.getbbox("█")
    cw = round(font.getlength("M"))
    ch = SIZE + 4
    pad = 12
    img = Image.new("RGB", (cols * cw + 2 * pad, nrows * ch + 2 * pad), BG)
    d = ImageDraw.Draw(img)
    for y, row in enumerate(rows[:nrows]):
        for x, (c, f, b, is_bold) in enumerate(row[:cols]):
            px, py = pad + x * cw, pad + y * ch
            if b != BG:
                d.rectangle([px, py, px + cw - 1, py + ch - 1], fill=b)
            if c == " ":
                continue
            if c == "█":
                d.rectangle([px, py, px + cw - 1, py + ch - 1], fill=f)
                continue
            if 0x2800 <= ord(c) <= 0x28FF:
                braille(d, ord(c) - 0x2800, px, py, cw, ch, f)
                continue
            d.text((px, py + 1), c, font=bold if is_bold else font, fill=f)
    img.save(out, optimize=True)


if __name__ == "__main__":
    main()
