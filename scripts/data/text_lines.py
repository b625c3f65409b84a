"""Renders text-line crops like those PP-OCR's direction classifier sees, upright or turned 180°.

Each image is one line of printed text (words, numbers, codes and prices in DejaVu and
Liberation fonts) on a plain, tinted, gradient or noisy background, sometimes inverted, slightly
skewed and blurred, then prepared as PaddleOCR prepares classifier input: resized to height 48
keeping its aspect ratio (at most 192 wide), scaled to [-1, 1], padded on the right with 0.
Half the lines are turned 180° (label 1), the classifier's second class.

  text_lines.py --out DIR [--calibration 512] [--evaluation 1000] [--batch 8] [--seed 0]
      DIR/calibration/batch_0000.npy ...   [batch, 3, 48, 192] float32, for webtrt calibrate
      DIR/evaluation/batch_0000.npy ...    the same, a separate set (another seed stream)
      DIR/evaluation-labels.npy            int64, 0 upright, 1 turned 180°
  text_lines.py --fixture FILE.npy --count N [--seed S]
      N grey images as uint8 [N, 48, 192] (0 = the padding), small enough to keep in a repository
"""

import argparse
import os
import random
import string

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

HEIGHT, WIDTH = 48, 192
FONT_DIRS = ['/usr/share/fonts/truetype/dejavu', '/usr/share/fonts/truetype/liberation']
WORDS = (
    'invoice total amount date receipt order number customer address street city phone email '
    'price quantity item description tax paid balance due account bank transfer reference '
    'page chapter section figure table report summary result value status approved pending '
    'open closed monday friday january march june october december north south east west '
    'station platform exit entrance warning caution danger notice office room floor building '
    'the and for with from this that your our are was will not all new more most best free'
).split()


def fonts():
    paths = [
        os.path.join(d, f)
        for d in FONT_DIRS
        if os.path.isdir(d)
        for f in sorted(os.listdir(d))
        if f.endswith('.ttf') and 'Math' not in f
    ]
    if not paths:
        raise SystemExit(f'no TrueType fonts in {", ".join(FONT_DIRS)}: install fonts-dejavu-core')
    return paths


def phrase(rng):
    kind = rng.random()
    if kind < 0.5:
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 4))]
        text = ' '.join(words)
        return text.upper() if rng.random() < 0.2 else text.capitalize() if rng.random() < 0.5 else text
    if kind < 0.7:
        return f'{rng.choice(WORDS).capitalize()}: {rng.randint(1, 99999)}'
    if kind < 0.85:
        return f'${rng.randint(0, 9999)}.{rng.randint(0, 99):02d}'
    alphabet = string.ascii_uppercase + string.digits
    return ''.join(rng.choice(alphabet) for _ in range(rng.randint(4, 12)))


def background(rng, size, dark):
    w, h = size
    base = np.array([rng.randint(0, 70) if dark else rng.randint(170, 255) for _ in range(3)], float)
    image = np.tile(base, (h, w, 1))
    if rng.random() < 0.4:
        ramp = np.linspace(0, rng.uniform(-60, 60), w)[None, :, None]
        image = image + ramp
    if rng.random() < 0.5:
        image = image + np.random.default_rng(rng.randint(0, 2**31)).normal(0, rng.uniform(2, 14), image.shape)
    return image


def render(rng, font_paths):
    text = phrase(rng)
    font = ImageFont.truetype(rng.choice(font_paths), rng.randint(22, 40))
    left, top, right, bottom = font.getbbox(text)
    margin_x, margin_y = rng.randint(2, 14), rng.randint(2, 10)
    size = (right - left + 2 * margin_x, bottom - top + 2 * margin_y)
    dark = rng.random() < 0.15
    canvas = Image.fromarray(np.clip(background(rng, size, dark), 0, 255).astype(np.uint8))
    ink = tuple(rng.randint(190, 255) if dark else rng.randint(0, 90) for _ in range(3))
    ImageDraw.Draw(canvas).text((margin_x - left, margin_y - top), text, font=font, fill=ink)
    if rng.random() < 0.5:
        fill = tuple(int(v) for v in np.asarray(canvas)[0, 0])
        canvas = canvas.rotate(rng.uniform(-3, 3), resample=Image.BILINEAR, expand=True, fillcolor=fill)
    if rng.random() < 0.3:
        canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    turned = rng.random() < 0.5
    if turned:
        canvas = canvas.rotate(180)
    return canvas, int(turned)


def resized(image):
    """PaddleOCR's resize_norm_img: height 48, width by aspect ratio up to 192."""
    w, h = image.size
    width = min(WIDTH, max(1, int(np.ceil(HEIGHT * w / h))))
    return np.asarray(image.resize((width, HEIGHT), Image.BILINEAR), dtype=np.float32)


def classifier_input(image):
    pixels = resized(image)
    chw = np.zeros((3, HEIGHT, WIDTH), np.float32)
    chw[:, :, : pixels.shape[1]] = (pixels.transpose(2, 0, 1) / 255 - 0.5) / 0.5
    return chw


def write_batches(directory, rng, font_paths, count, batch):
    os.makedirs(directory, exist_ok=True)
    labels = []
    for start in range(0, count, batch):
        images = []
        for _ in range(min(batch, count - start)):
            image, label = render(rng, font_paths)
            images.append(classifier_input(image))
            labels.append(label)
        np.save(os.path.join(directory, f'batch_{start // batch:04d}.npy'), np.stack(images))
    return np.array(labels, np.int64)


def write_fixture(path, rng, font_paths, count):
    grey = np.zeros((count, HEIGHT, WIDTH), np.uint8)
    for i in range(count):
        image, _ = render(rng, font_paths)
        pixels = resized(image.convert('L').convert('RGB'))[:, :, 0]
        # 0 marks the padding, which normalizes to 0 (grey 127.5 would too): pixels keep 1..255.
        grey[i, :, : pixels.shape[1]] = np.clip(np.round(pixels), 1, 255)
    np.save(path, grey)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out')
    parser.add_argument('--calibration', type=int, default=512)
    parser.add_argument('--evaluation', type=int, default=1000)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--fixture')
    parser.add_argument('--count', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    font_paths = fonts()
    if args.fixture:
        write_fixture(args.fixture, random.Random(args.seed), font_paths, args.count)
        return
    if not args.out:
        parser.error('give --out DIR, or --fixture FILE')
    write_batches(os.path.join(args.out, 'calibration'), random.Random(args.seed), font_paths, args.calibration, args.batch)
    labels = write_batches(
        os.path.join(args.out, 'evaluation'), random.Random(args.seed + 1), font_paths, args.evaluation, args.batch
    )
    np.save(os.path.join(args.out, 'evaluation-labels.npy'), labels)


if __name__ == '__main__':
    main()
