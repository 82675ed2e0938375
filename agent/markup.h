#pragma once

#include <glib.h>

/* Text made safe inside a StatusNotifierItem tooltip or a notification
 * body, which hosts read as markup: &, < and > become entities, quotes
 * stay as they are. Hosts that find no tag in a string show it as plain
 * text, entities and all (Plasma: "the user&apos;s"), so no more is
 * escaped than markup needs. */
char *sg_markup_escape (const char *text);
