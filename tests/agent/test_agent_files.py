'''The agent's installed files: the autostart entry and the icons.'''

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

SOURCE_DIR = os.environ.get('SEATGATE_SOURCE_DIR') or \
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DESKTOP = os.path.join(SOURCE_DIR, 'data', 'seatgate-agent.desktop')
ICONS = os.path.join(SOURCE_DIR, 'data', 'icons')
SVG = '{http://www.w3.org/2000/svg}'


def desktop_entry():
    entry = {}
    with open(DESKTOP, encoding='utf-8') as f:
        lines = [line.strip() for line in f if line.strip() and not line.startswith('#')]
    assert lines[0] == '[Desktop Entry]'
    for line in lines[1:]:
        key, value = line.split('=', 1)
        entry[key] = value
    return entry


def test_autostart_entry_starts_the_agent_everywhere_unseen():
    entry = desktop_entry()
    assert entry['Type'] == 'Application'
    assert entry['Exec'] == 'seatgate-agent'
    assert entry['NoDisplay'] == 'true'
    # every desktop, X11 and Wayland: no desktop filter, no hidden switch
    for key in ('OnlyShowIn', 'NotShowIn', 'Hidden', 'TryExec', 'X-GNOME-Autostart-enabled'):
        assert key not in entry
    assert entry['X-GNOME-Autostart-Phase'] == 'Applications'
    assert 'X-KDE-autostart-phase' in entry


def test_autostart_entry_passes_desktop_file_validate():
    tool = shutil.which('desktop-file-validate')
    if tool is None:
        pytest.skip('desktop-file-validate is not installed (desktop-file-utils)')
    r = subprocess.run([tool, DESKTOP], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'error' not in r.stdout


def icon_names_used_by_the_agent():
    with open(os.path.join(SOURCE_DIR, 'agent', 'status.c'), encoding='utf-8') as f:
        return sorted(set(re.findall(r'"(seatgate-[a-z-]+)"', f.read())))


def test_every_icon_the_agent_names_exists_with_a_symbolic_variant():
    names = icon_names_used_by_the_agent()
    assert names == ['seatgate-denied', 'seatgate-granted', 'seatgate-unavailable']
    for name in names:
        for variant in (name, name + '-symbolic'):
            root = ET.parse(os.path.join(ICONS, variant + '.svg')).getroot()
            assert root.tag == SVG + 'svg'
            assert root.get('viewBox') == '0 0 16 16'


def test_symbolic_icons_are_one_colour_and_fill_only():
    # GTK recolours a symbolic icon's fills with its own stylesheet; KDE's
    # KIconLoader fills the style with id current-color-scheme, so every
    # shape is of class ColorScheme-Text and filled with currentColor, the
    # one colour that style sets.
    svg = '{http://www.w3.org/2000/svg}'
    for name in icon_names_used_by_the_agent():
        root = ET.parse(os.path.join(ICONS, name + '-symbolic.svg')).getroot()
        styles = [el for el in root.iter(svg + 'style') if el.get('id') == 'current-color-scheme']
        assert len(styles) == 1, f'{name}-symbolic: no current-color-scheme style'
        colours = re.findall(r'\.ColorScheme-Text\s*\{\s*color:\s*(#[0-9a-fA-F]{6})', styles[0].text)
        assert len(colours) == 1, f'{name}-symbolic: its style sets {colours}'
        shapes = [el for el in root.iter() if el.tag in (svg + 'path', svg + 'rect', svg + 'circle')]
        assert shapes
        for el in root.iter():
            assert el.get('stroke') in (None, 'none'), f'{name}: GTK recolours fills only'
            assert 'stroke' not in (el.get('style') or ''), f'{name}: GTK recolours fills only'
            assert el.get('fill') in (None, 'none'), f'{name}: a fixed fill KDE cannot recolour'
        for el in shapes:
            assert el.get('class') == 'ColorScheme-Text', f'{name}: {el.tag} has no ColorScheme-Text'
            assert el.get('style') == 'fill:currentColor', f'{name}: {el.tag} is not currentColor'
