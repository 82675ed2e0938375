/* Messages to stderr and to the journal. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* With @verbose, debug and info messages too. */
void sg_agent_log_init (gboolean verbose);

G_END_DECLS
