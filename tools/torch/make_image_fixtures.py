"""Reference fixtures for src/engine/clip/image.ts (CLIP image preprocessing), made with PIL.

open_clip's eval transform for a square CLIP of image size S (resize_mode 'shortest') is
torchvision Resize(S, BICUBIC) -> CenterCrop(S) -> convert('RGB') -> ToTensor -> Normalize,
all on PIL images. torchvision is not installed here, so its three rules are restated below from
its source (short side -> S with long = int(S * long / short); no resize when the size already
matches; CenterCrop pads with 0 when the crop is larger, then crops at int(round((h - S) / 2.0)));
the pixels themselves come from PIL's Image.resize, which is what torchvision calls.

Run from the repository root with the system interpreter (PIL 9.4, numpy, torch 1.13 CPU):

    /usr/bin/python3 tools/torch/make_image_fixtures.py [--out test/fixtures/images]

Everything is seeded and deterministic; a rerun with the same PIL writes the same bytes.

Writes into --out:

  *.png *.jpg *.gif *.webp   small input images, written by PIL from the pattern below
  resize.json        PIL resizes of in-memory pattern images (no input files needed: the pattern
                     is an integer formula restated in image.test.ts; inputSha256 proves both
                     sides built the same input). Per case: op (bicubic | nearest), seed,
                     in [w, h], out [w, h], inputSha256, sha256 of the HWC RGB uint8 output,
                     and b64 of the output when it is small (for a readable diff on failure).
  crop.json          torchvision's CenterCrop placement for every (w, h, S) in a grid, and its
                     Resize(int) output size for a list of sizes.
  preprocess.json    per input file: S, the PIL/open_clip crop after convert('RGB') (HWC uint8,
                     b64 or sha256), and for some the float32 CHW tensor from ToTensor+Normalize.
"""

import argparse
import base64
import hashlib
import io
import json
import os
import struct
import zlib

import numpy as np
import PIL
import torch
from PIL import Image, ImageCms

M32 = 0xFFFFFFFF
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
SMALL = 8192  # outputs up to this many bytes are stored whole, larger ones as sha256 only
S = 24  # CLIP image size of the file cases: small, so the stored crops stay small


# ---------------------------------------------------------------------------------------------
# The pattern: noise (full range on the left third, so bicubic overshoot hits the 0/255 clip),
# gradients plus mild noise elsewhere, and a hard-edged block pattern in the lower half.
# Integer arithmetic only, so the TypeScript test rebuilds the same bytes.


def h32(x, y, c, seed):
    h = (x * 0x9E3779B1 + y * 0x85EBCA77 + c * 0xC2B2AE3D + seed * 0x27D4EB2F) & M32
    h ^= h >> 15
    h = (h * 0x2C1B3C6D) & M32
    h ^= h >> 12
    h = (h * 0x297A2D39) & M32
    h ^= h >> 15
    return h


def pattern_value(x, y, c, w, h, seed):
    if c == 3:  # alpha: fully transparent dots, an opaque top band, noise elsewhere
        if (x + y) % 5 == 0:
            return 0
        if y < h // 4:
            return 255
        return h32(x, y, c, seed) & 255
    n = h32(x, y, c, seed)
    if x < w // 3:
        return n & 255
    if y > h // 2 and (x // 5 + y // 7) % 4 == 0:
        return 255 if c % 2 else 0
    if c == 0:
        g = x * 255 // max(1, w - 1)
    elif c == 1:
        g = y * 255 // max(1, h - 1)
    else:
        g = (x + y) * 255 // max(1, w + h - 2)
    return min(255, max(0, g + n % 41 - 20))


def pattern(w, h, channels, seed):
    a = np.zeros((h, w, channels), np.uint8)
    for y in range(h):
        for x in range(w):
            for c in range(channels):
                a[y, x, c] = pattern_value(x, y, c, w, h, seed)
    return a


def sha(b):
    return hashlib.sha256(b).hexdigest()


def b64(b):
    return base64.b64encode(b).decode('ascii')


def stored(b):
    """The reference bytes whole when small, always with their hash."""
    out = {'sha256': sha(b)}
    if len(b) <= SMALL:
        out['b64'] = b64(b)
    return out


# ---------------------------------------------------------------------------------------------
# torchvision's rules (restated from torchvision/transforms/functional.py and _functional_pil.py)


def resized_size(w, h, size):
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def crop_placement(w, h, size):
    """(padLeft, padTop, padRight, padBottom, top, left) of CenterCrop(size) on a w x h image."""
    pl = (size - w) // 2 if size > w else 0
    pt = (size - h) // 2 if size > h else 0
    pr = (size - w + 1) // 2 if size > w else 0
    pb = (size - h + 1) // 2 if size > h else 0
    pw, ph = w + pl + pr, h + pt + pb
    if (pl or pt or pr or pb) and pw == size and ph == size:
        return (pl, pt, pr, pb, 0, 0)
    top = int(round((ph - size) / 2.0))  # Python 3 round: half to even
    left = int(round((pw - size) / 2.0))
    return (pl, pt, pr, pb, top, left)


def center_crop(im, size):
    w, h = im.size
    pl, pt, pr, pb, top, left = crop_placement(w, h, size)
    if pl or pt or pr or pb:
        padded = Image.new(im.mode, (w + pl + pr, h + pt + pb), 0)
        if im.mode == 'P':
            padded.putpalette(im.getpalette())
        padded.paste(im, (pl, pt))
        im = padded
    return im.crop((left, top, left + size, top + size))


def clip_eval_crop(im, size):
    """open_clip eval preprocessing up to convert('RGB'): the uint8 image the tensor is made of."""
    w, h = im.size
    nw, nh = resized_size(w, h, size)
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.BICUBIC)
    return center_crop(im, size).convert('RGB')


def to_tensor_normalize(rgb):
    """torchvision ToTensor + Normalize in float32, as open_clip runs them."""
    x = torch.from_numpy(np.array(rgb, np.uint8, copy=True)).permute(2, 0, 1).contiguous()
    x = x.to(dtype=torch.float32).div(255)
    mean = torch.as_tensor(OPENAI_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.as_tensor(OPENAI_STD, dtype=torch.float32)[:, None, None]
    return x.sub_(mean).div_(std)


# ---------------------------------------------------------------------------------------------
# Input files


def png_chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & M32)


def write_png16_rgb(path, a):
    """PIL cannot write 16-bit RGB PNGs; this is the format's minimum (IHDR, one IDAT, IEND)."""
    h, w, _ = a.shape
    be = a.astype('>u2')
    raw = b''.join(b'\x00' + be[y].tobytes() for y in range(h))
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n')
        f.write(png_chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 16, 2, 0, 0, 0)))
        f.write(png_chunk(b'IDAT', zlib.compress(raw, 9)))
        f.write(png_chunk(b'IEND', b''))


def wide16(a8, seed):
    """16-bit samples whose high byte is the pattern and whose low byte is noise."""
    lo = np.vectorize(lambda i: h32(i, 7, 1, seed) & 255)(np.arange(a8.size)).reshape(a8.shape)
    return a8.astype(np.uint16) * 256 + lo.astype(np.uint16)


def s15f16(v):
    return struct.pack('>i', int(round(v * 65536)))


def linear_rgb_icc():
    """A minimal ICC v2 RGB display profile: sRGB's D50-adapted primaries with gamma 1.0 curves.

    Written by hand (ImageCms only creates sRGB, LAB and XYZ profiles) and with a fixed date, so
    reruns write the same bytes. Layout: 128-byte header, tag count and table, tag data (4-aligned).
    """
    def xyz(x, y, z):
        return b'XYZ ' + bytes(4) + s15f16(x) + s15f16(y) + s15f16(z)

    text = b'linear RGB test profile\0'
    desc = b'desc' + bytes(4) + struct.pack('>I', len(text)) + text + bytes(4) + bytes(4) + bytes(2) + bytes(1) + bytes(67)
    curve = b'curv' + bytes(4) + struct.pack('>IH', 1, 0x0100) + bytes(2)  # gamma 1.0 (u8Fixed8)
    tags = [
        (b'desc', desc),
        (b'cprt', b'text' + bytes(4) + b'no copyright\0'),
        (b'wtpt', xyz(0.9642, 1.0, 0.8249)),
        (b'rXYZ', xyz(0.4361, 0.2225, 0.0139)),
        (b'gXYZ', xyz(0.3851, 0.7169, 0.0971)),
        (b'bXYZ', xyz(0.1431, 0.0606, 0.7141)),
        (b'rTRC', curve),
        (b'gTRC', curve),
        (b'bTRC', curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b'', b''
    for sig, body in tags:
        table += sig + struct.pack('>II', offset + len(data), len(body))
        data += body + bytes(-len(body) % 4)
    size = offset + len(data)
    header = (struct.pack('>I', size) + bytes(4) + struct.pack('>I', 0x02100000) + b'mntr' + b'RGB ' + b'XYZ '
              + struct.pack('>6H', 2024, 1, 1, 0, 0, 0) + b'acsp' + bytes(4) + bytes(4) + bytes(4) + bytes(4)
              + bytes(8) + bytes(4) + s15f16(0.9642) + s15f16(1.0) + s15f16(0.8249) + bytes(4) + bytes(16) + bytes(28))
    assert len(header) == 128
    return header + struct.pack('>I', len(tags)) + table + data


def exif_orientation(value):
    ex = Image.Exif()
    ex[0x0112] = value
    return ex.tobytes()


def make_inputs(out):
    """name -> (PIL image as PIL opens it from disk, how the reference treats it)."""
    files = {}

    def save(name, im, **kw):
        im.save(os.path.join(out, name), **kw)
        files[name] = 'pil'

    # 73x52 -> 33x24 at S=24: the crop's left offset is round(4.5) = 4 (half to even).
    save('rgb.png', Image.fromarray(pattern(73, 52, 3, 1), 'RGB'), optimize=True)
    save('rgb.jpg', Image.fromarray(pattern(80, 52, 3, 2), 'RGB'), quality=90)  # 4:2:0
    save('grey.jpg', Image.fromarray(pattern(52, 80, 1, 3)[:, :, 0], 'L'), quality=90)
    save('rgba.png', Image.fromarray(pattern(40, 54, 4, 4), 'RGBA'), optimize=True)
    save('rgba_small.png', Image.fromarray(pattern(20, 12, 4, 5), 'RGBA'), optimize=True)
    la = pattern(54, 40, 4, 6)
    save('la.png', Image.fromarray(la[:, :, [0, 3]], 'LA'), optimize=True)
    save('l.png', Image.fromarray(pattern(36, 50, 1, 7)[:, :, 0], 'L'), optimize=True)
    save('small.png', Image.fromarray(pattern(20, 12, 3, 8), 'RGB'), optimize=True)
    save('bits1.png', Image.fromarray(pattern(50, 40, 1, 9)[:, :, 0], 'L').convert('1', dither=Image.NONE))

    pal = Image.fromarray(pattern(56, 36, 1, 10)[:, :, 0] % 40, 'P')
    pal.putpalette([h32(i, 0, 0, 11) & 255 for i in range(40 * 3)] + [0] * (768 - 120))
    save('p.png', pal, optimize=True)
    save('p_trns.png', pal, transparency=5)
    save('p.gif', pal)  # not a PNG: the palette is known from the decoder, resized NEAREST all the same
    save('rgba.webp', Image.fromarray(pattern(40, 54, 4, 18), 'RGBA'), lossless=True)

    # A tRNS colour key on RGB: PIL keeps mode RGB (no premultiplied resize) although decoders
    # report alpha. The key is the colour of the pattern's blocks, so many pixels carry it.
    save('rgb_trns.png', Image.fromarray(pattern(45, 30, 3, 12), 'RGB'), transparency=(0, 255, 0))

    # 24x24 RGBA at S=24: no resampling, so alpha is simply dropped (no premultiply round trip).
    save('square.png', Image.fromarray(pattern(24, 24, 4, 13), 'RGBA'))
    # EXIF orientation 6 (rotate 90): PIL does not apply it, neither must we.
    save('exif.jpg', Image.fromarray(pattern(40, 24, 3, 14), 'RGB'), quality=92, exif=exif_orientation(6))
    # An embedded ICC profile that is not sRGB (linear gamma): PIL ignores it, a colour-managed
    # decoder would brighten the image.
    profile = linear_rgb_icc()
    save('icc.png', Image.fromarray(pattern(36, 40, 3, 15), 'RGB'), icc_profile=profile)

    write_png16_rgb(os.path.join(out, 'rgb16.png'), wide16(pattern(30, 42, 3, 16), 16))
    files['rgb16.png'] = 'pil'
    g16 = wide16(pattern(42, 30, 1, 17)[:, :, 0], 17)
    Image.fromarray(g16).save(os.path.join(out, 'grey16.png'))  # PIL writes I;16 as 16-bit grey
    files['grey16.png'] = 'high-byte'
    return files


def reference_image(out, name, how):
    im = Image.open(os.path.join(out, name))
    if how == 'pil':
        return im
    # grey16: PIL opens it as mode I and convert('RGB') saturates every value above 255 to white,
    # which would make open_clip see a blank image. clipag keeps the high byte of each sample (what
    # PIL does for 16-bit RGB/RGBA/LA PNGs) and resizes as 8-bit grey; the reference follows that.
    a = np.array(im, dtype=np.int64)
    return Image.fromarray((a >> 8).astype(np.uint8), 'L')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default='test/fixtures/images')
    args = ap.parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)

    # resize.json ------------------------------------------------------------------------------
    cases = []
    bicubic = [
        ((97, 61), (17, 23)),    # strong downscale, different factors per axis
        ((40, 40), (224, 224)),  # upscale
        ((300, 200), (336, 224)),  # Resize(224) on 300x200
        ((640, 427), (335, 224)),  # Resize(224) on a photo-like size: kernels ~15 taps wide
        ((61, 97), (97, 61)),    # one axis up, one down
        ((33, 20), (33, 47)),    # width unchanged: vertical pass only
        ((20, 33), (47, 33)),    # height unchanged: horizontal pass only
        ((97, 61), (96, 60)),    # slight downscale
        ((7, 5), (3, 2)),
        ((1, 1), (5, 3)),
        ((2, 9), (1, 1)),
        ((5, 1), (1, 4)),
        ((500, 3), (2, 2)),      # very wide kernel (support 500)
        ((64, 48), (64, 48)),    # same size: a copy
    ]
    nearest = [
        ((97, 61), (17, 23)),
        ((40, 40), (224, 224)),
        ((61, 97), (97, 61)),
        ((7, 5), (3, 2)),
        ((3, 7), (301, 500)),    # long accumulation of the source step
    ]
    seed = 100
    for op, table in (('bicubic', bicubic), ('nearest', nearest)):
        for (iw, ih), (ow, oh) in table:
            seed += 1
            src = pattern(iw, ih, 3, seed)
            res = Image.fromarray(src, 'RGB').resize((ow, oh), Image.BICUBIC if op == 'bicubic' else Image.NEAREST)
            case = {'op': op, 'seed': seed, 'in': [iw, ih], 'out': [ow, oh], 'inputSha256': sha(src.tobytes())}
            case.update(stored(np.asarray(res).tobytes()))
            cases.append(case)
    # The whole open_clip path on an in-memory 300x200 image at S=224 (crop of the 336x224 resize).
    seed += 1
    src = pattern(300, 200, 3, seed)
    crop = clip_eval_crop(Image.fromarray(src, 'RGB'), 224)
    cases.append({'op': 'clip224', 'seed': seed, 'in': [300, 200], 'out': [224, 224],
                  'inputSha256': sha(src.tobytes()), 'sha256': sha(np.asarray(crop).tobytes())})
    with open(os.path.join(out, 'resize.json'), 'w') as f:
        json.dump({'pil': PIL.__version__, 'cases': cases}, f, indent=0)

    # crop.json --------------------------------------------------------------------------------
    placements = []
    for w in range(1, 11):
        for h in range(1, 11):
            for s in range(1, 9):
                placements.append([w, h, s, *crop_placement(w, h, s)])
    sizes = []
    for w, h, s in [(300, 200, 224), (200, 300, 224), (224, 224, 224), (225, 224, 224), (224, 1000, 224),
                    (1000, 3, 224), (3, 1000, 224), (641, 427, 224), (1920, 1080, 336), (80, 52, 32),
                    (52, 70, 32), (33, 20, 47), (7, 7, 3), (999, 997, 224), (1, 1, 224)]:
        sizes.append([w, h, s, *resized_size(w, h, s)])
    with open(os.path.join(out, 'crop.json'), 'w') as f:
        json.dump({'placement': 'w, h, S, padLeft, padTop, padRight, padBottom, top, left',
                   'placements': placements, 'resize': 'w, h, S, newW, newH', 'sizes': sizes}, f)

    # preprocess.json --------------------------------------------------------------------------
    files = make_inputs(out)
    with_tensor = {'rgb.png', 'rgb.jpg'}
    pre = []
    for name, how in files.items():
        for s in ([S, 224] if name == 'rgb.png' else [S]):
            im = reference_image(out, name, how)
            crop = clip_eval_crop(im, s)
            entry = {'file': name, 'mode': Image.open(os.path.join(out, name)).mode, 'size': list(im.size), 'S': s, 'rule': how}
            entry['rgb'] = stored(np.asarray(crop).tobytes())
            decoded = np.asarray(im.convert('RGB')).tobytes()
            entry['decoded'] = {'sha256': sha(decoded)}  # what readImage must return: PIL's convert('RGB')
            if name in with_tensor:
                t = to_tensor_normalize(crop).numpy().astype('<f4').tobytes()
                entry['tensor'] = {'sha256': sha(t), 'b64': b64(t)} if s == S and name == 'rgb.png' else {'sha256': sha(t)}
            pre.append(entry)
    with open(os.path.join(out, 'preprocess.json'), 'w') as f:
        json.dump({'pil': PIL.__version__, 'torch': torch.__version__, 'mean': OPENAI_MEAN, 'std': OPENAI_STD,
                   'cases': pre}, f, indent=0)

    total = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    print(f'wrote {len(os.listdir(out))} files, {total} bytes, into {out}')


if __name__ == '__main__':
    main()
