"""The guest's real screen, as QEMU's QMP screendump writes it (PPM, P6):
read it, find an icon's colour in it, keep it as a PNG (no PIL in the
package lists; zlib is enough for PNG)."""
import re
import struct
import zlib


class Image:
    def __init__(self, width, height, rgb):
        self.width, self.height, self.rgb = width, height, rgb

    def pixel(self, x, y):
        i = (y * self.width + x) * 3
        return self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]


def read_ppm(path):
    '''A binary PPM (P6, maxval 255) as QEMU's screendump writes it.'''
    with open(path, 'rb') as f:
        data = f.read()
    m = re.match(rb'P6\s+(?:#[^\n]*\n\s*)*(\d+)\s+(\d+)\s+(\d+)\s', data)
    if not m or int(m.group(3)) != 255:
        raise ValueError(f'{path} is not an 8-bit binary PPM (P6)')
    width, height = int(m.group(1)), int(m.group(2))
    rgb = data[m.end():m.end() + width * height * 3]
    if len(rgb) != width * height * 3:
        raise ValueError(f'{path}: {len(rgb)} bytes of pixels for {width}x{height}')
    return Image(width, height, rgb)


def write_png(image, path):
    def chunk(kind, body):
        return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body))
    stride = image.width * 3
    raw = b''.join(b'\0' + image.rgb[y * stride:(y + 1) * stride] for y in range(image.height))
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n')
        f.write(chunk(b'IHDR', struct.pack('>IIBBBBB', image.width, image.height, 8, 2, 0, 0, 0)))
        f.write(chunk(b'IDAT', zlib.compress(raw, 6)))
        f.write(chunk(b'IEND', b''))


def colour_columns(image, rgb, tolerance, box):
    '''{x: [y, ...]} of the pixels within tolerance of rgb in box (as
    find_colour matches them), for shapes to be cut out of a sparse ink.'''
    x0, y0, x1, y1 = box
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(image.width, x1), min(image.height, y1)
    cols = {}
    if x0 >= x1 or y0 >= y1:
        return cols
    w = image.width
    rows = image.rgb[y0 * w * 3:y1 * w * 3]
    mask = -1
    for c in range(3):
        table = bytes(1 if abs(v - rgb[c]) <= tolerance else 0 for v in range(256))
        mask &= int.from_bytes(rows[c::3].translate(table), 'big')
    hits = mask.to_bytes(len(rows) // 3, 'big')
    for y in range(y1 - y0):
        line = hits[y * w + x0:y * w + x1]
        i = line.find(1)
        while i >= 0:
            cols.setdefault(x0 + i, []).append(y0 + y)
            i = line.find(1, i + 1)
    return cols


def find_colour(image, rgb, tolerance, box=None):
    '''(count, bounding box (x0, y0, x1, y1) or None) of the pixels within
    tolerance of rgb on each channel, in box (default: the whole screen).
    Channel masks by bytes.translate and one AND of big integers: a full
    screen in tens of milliseconds, not a Python loop per pixel.'''
    x0, y0, x1, y1 = box or (0, 0, image.width, image.height)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(image.width, x1), min(image.height, y1)
    if x0 >= x1 or y0 >= y1:
        return 0, None
    w = image.width
    rows = image.rgb[y0 * w * 3:y1 * w * 3]
    mask = -1
    for c in range(3):
        table = bytes(1 if abs(v - rgb[c]) <= tolerance else 0 for v in range(256))
        mask &= int.from_bytes(rows[c::3].translate(table), 'big')
    hits = mask.to_bytes(len(rows) // 3, 'big')
    count, found = 0, None
    for y in range(y1 - y0):
        line = hits[y * w + x0:y * w + x1]
        n = line.count(1)
        if not n:
            continue
        count += n
        first, last = x0 + line.find(1), x0 + line.rfind(1) + 1
        if found is None:
            found = [first, y0 + y, last, y0 + y + 1]
        else:
            found = [min(found[0], first), found[1], max(found[2], last), y0 + y + 1]
    return count, (tuple(found) if found else None)
