/* seatgate.conf: which seats gate which ports, and who may always connect. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How the helper keeps its nftables table (see helper/nft-gate.h). */
typedef enum
{
  SG_TABLE_MODE_AUTO,       /* owned + persistent where the kernel can, else plain */
  SG_TABLE_MODE_PERSISTENT, /* owned + persistent, or fail */
  SG_TABLE_MODE_PLAIN,      /* an ordinary table, watched and restored */
} SgTableMode;

typedef struct
{
  char *name;     /* logind seat id, e.g. "seat0" */
  GArray *ports;  /* guint16, ascending, unique */
  guint line;     /* where its group starts, for messages */
} SgSeatConfig;

typedef struct
{
  char *path;             /* the file it came from, or NULL for built-in defaults */
  GPtrArray *seats;       /* SgSeatConfig*, in file order */
  GArray *always_allow;   /* guint32 uids, unique, in file order */
  SgTableMode table_mode;
  char *viewer_command;   /* [Agent] ViewerCommand, NULL when unset */
} SgConfig;

/* Largest config file accepted, in bytes. */
#define SG_CONFIG_MAX_SIZE (1024 * 1024)

/* The built-in configuration: seat0 gates 5930. */
SgConfig *sg_config_new_default (void);

/* Reads @path. Every problem is an SG_ERROR_INVALID_CONFIG whose message
 * names the file, the line, the group and key, what is wrong and how to fix
 * it. A file that does not exist is G_IO_ERROR_NOT_FOUND. */
SgConfig *sg_config_load_file (const char *path, GError **error);

/* Parses @data (@len bytes; may hold anything). @name names it in messages.
 * With @agent_only, only an [Agent] group is allowed (the user's agent.conf). */
SgConfig *sg_config_load_data (const char *data,
                               gsize len,
                               const char *name,
                               gboolean agent_only,
                               GError **error);

const SgSeatConfig *sg_config_find_seat (const SgConfig *config, const char *name);

/* The seat that gates @port, or NULL. */
const SgSeatConfig *sg_config_seat_for_port (const SgConfig *config, guint16 port);

/* Every gated port of every seat, ascending (a new GArray of guint16). */
GArray *sg_config_all_ports (const SgConfig *config);

const char *sg_table_mode_to_string (SgTableMode mode);

void sg_config_free (SgConfig *config);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgConfig, sg_config_free)

G_END_DECLS
