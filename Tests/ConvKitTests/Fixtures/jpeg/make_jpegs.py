"""Writes the JPEG fixtures of JPEGTests (and the jpeg fuzz seeds) from images defined here.

Run once, by hand, from anywhere: python3 make_jpegs.py (needs pillow). The outputs are committed;
CI does not run this (these were made with pillow 13.0.0, which bundles libjpeg-turbo 3.2.0).
The grey and RGB sources are beside them as binary Netpbm (grey.pgm, rgb.ppm), which the tests
read with ConvKit's own Netpbm reader and compare against within a tolerance: JPEG is lossy, and
decoders may differ by a unit or two between libjpeg-turbo versions.

- rgb.jpg        64x48 RGB, quality 95, 4:4:4 (no chroma subsampling), baseline
- grey.jpg       64x48 greyscale (one component), quality 95
- rgb-420.jpg    the same RGB source, quality 90, 4:2:0, progressive: another code path
- cmyk.jpg       16x16 CMYK (Adobe), which ConvKit refuses with a typed error
"""
import os
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "..", "..", "..", "Fuzz", "corpus", "jpeg")
W, H = 64, 48


def rgb_source():
    # Smooth ramps with one soft blob: JPEG keeps these close, so a tight tolerance means
    # channels and rows are where they belong (a swapped channel or a flipped row would not pass).
    img = Image.new("RGB", (W, H))
    for y in range(H):
        for x in range(W):
            d = (x - 40) ** 2 + (y - 20) ** 2
            blob = max(0, 90 - d)
            img.putpixel((x, y), (min(255, 4 * x + blob), min(255, 5 * y + blob // 2), 230 - 2 * x - 3 * y))
    return img


def grey_source():
    img = Image.new("L", (W, H))
    for y in range(H):
        for x in range(W):
            img.putpixel((x, y), min(255, 3 * x + 2 * y + (60 if 16 <= x < 48 and 12 <= y < 36 else 0)))
    return img


def main():
    os.makedirs(SEEDS, exist_ok=True)
    rgb, grey = rgb_source(), grey_source()
    rgb.save(os.path.join(HERE, "rgb.ppm"))
    grey.save(os.path.join(HERE, "grey.pgm"))
    rgb.save(os.path.join(HERE, "rgb.jpg"), quality=95, subsampling=0)
    grey.save(os.path.join(HERE, "grey.jpg"), quality=95)
    rgb.save(os.path.join(HERE, "rgb-420.jpg"), quality=90, subsampling=2, progressive=True)
    Image.new("CMYK", (16, 16), (10, 200, 30, 0)).save(os.path.join(HERE, "cmyk.jpg"), quality=90)
    # Fuzz seeds: small, so mutations reach the entropy-coded data quickly.
    rgb.resize((8, 8)).save(os.path.join(SEEDS, "rgb-8x8.jpg"), quality=80, subsampling=0)
    rgb.resize((16, 8)).save(os.path.join(SEEDS, "rgb-16x8-420-progressive.jpg"), quality=80, subsampling=2, progressive=True)
    grey.resize((8, 8)).save(os.path.join(SEEDS, "grey-8x8.jpg"), quality=80)


if __name__ == "__main__":
    main()
