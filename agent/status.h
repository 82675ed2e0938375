/* What the agent shows: one of three states, with the port or the reason. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  SG_STATUS_STARTING,    /* nothing settled yet: shown neutrally, never announced */
  SG_STATUS_GRANTED,     /* the seat's port is ours */
  SG_STATUS_NOT_GRANTED, /* the helper runs but we hold no grant: see reason */
  SG_STATUS_UNAVAILABLE, /* the helper is not on the bus */
} SgStatusKind;

typedef struct
{
  SgStatusKind kind;
  guint16 port; /* GRANTED: the first port of the seat */
  char *reason; /* NOT_GRANTED, UNAVAILABLE: for a person, e.g. "remote session" */
} SgStatus;

/* The address the VM console is reached at; the helper only gates loopback. */
#define SG_VIEWER_HOST "127.0.0.1"

void sg_status_set (SgStatus *status, SgStatusKind kind, guint16 port, const char *reason);
void sg_status_copy (SgStatus *dest, const SgStatus *src);
void sg_status_clear (SgStatus *status);
gboolean sg_status_equal (const SgStatus *a, const SgStatus *b);

/* Themed icon name, e.g. "seatgate-granted". */
const char *sg_status_icon_name (const SgStatus *status);
/* One line: "VM console: yours (port 5930)". */
char *sg_status_headline (const SgStatus *status);
/* The detail under the headline, or NULL. */
char *sg_status_detail (const SgStatus *status);
/* "spice://127.0.0.1:5930" when granted, else NULL. */
char *sg_status_uri (const SgStatus *status);

G_END_DECLS
