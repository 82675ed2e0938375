/* The tray item's menu, exported as com.canonical.dbusmenu. */
#pragma once

#include <gio/gio.h>

#include "status.h"

G_BEGIN_DECLS

#define SG_MENU_PATH "/MenuBar"

typedef enum
{
  SG_MENU_ITEM_ROOT = 0,
  SG_MENU_ITEM_OPEN = 1,   /* "Open VM console" */
  SG_MENU_ITEM_STATUS = 2, /* the state, a disabled line */
  SG_MENU_ITEM_COPY = 3,   /* "Copy address", only where a clipboard tool exists */
  SG_MENU_N_ITEMS
} SgMenuItem;

typedef struct _SgMenu SgMenu;

/* A menu item was clicked. */
typedef void (*SgMenuActivateFunc) (SgMenuItem item, gpointer user_data);

SgMenu *sg_menu_new (GDBusConnection *session_bus, gboolean can_copy, SgMenuActivateFunc activate,
                     gpointer user_data, GError **error);
void sg_menu_free (SgMenu *menu);

void sg_menu_set_status (SgMenu *menu, const SgStatus *status);

/* The status line's label, e.g. "Not yours: remote session". */
char *sg_menu_status_label (const SgStatus *status);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgMenu, sg_menu_free)

G_END_DECLS
