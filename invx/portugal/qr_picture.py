"""The ATCUD QR code as a picture: error correction M, as Portaria 195/2020 requires, drawn
by segno (SVG or PNG, no image library needed)."""
import io

import segno

KINDS = {"svg": "image/svg+xml", "png": "image/png"}
SCALE = 4  # pixels (SVG units) per module: about 2.5 cm for a usual document's code
BORDER = 4  # the quiet zone the standard asks for, in modules


def draw(text, kind):
    """The QR code of ``text`` as ``kind`` ("svg" or "png") bytes."""
    symbol = segno.make_qr(text, error="m", boost_error=False)
    out = io.BytesIO()
    symbol.save(out, kind=kind, scale=SCALE, border=BORDER)
    return out.getvalue()
