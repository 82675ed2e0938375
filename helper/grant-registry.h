/* Who holds which seat's grant: pure bookkeeping, no bus and no kernel, so its
 * rules are unit-tested on their own. A seat has at most one granted uid (the
 * owner of its active session); the grant lives while at least one bus
 * connection (holder) of that uid holds it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  char *seat;
  guint32 uid;
  char *session_id;
  char *session_path;
  GPtrArray *holders; /* unique bus names, each once */
  char *ticket;       /* the VM's SPICE ticket for this grant, or NULL (no VM binding) */
} SgGrant;

typedef struct _SgGrantRegistry SgGrantRegistry;

SgGrantRegistry *sg_grant_registry_new (void);
void sg_grant_registry_free (SgGrantRegistry *registry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgGrantRegistry, sg_grant_registry_free)

/* The grant of @seat, or NULL. */
SgGrant *sg_grant_registry_lookup (SgGrantRegistry *registry, const char *seat);

/* Adds @holder to @seat's grant for @uid and @session, creating the grant.
 * @seat must have no grant, or one for the same uid and session. Returns TRUE
 * when the grant is new. */
gboolean sg_grant_registry_hold (SgGrantRegistry *registry, const char *seat, guint32 uid,
                                 const char *session_id, const char *session_path,
                                 const char *holder);

/* Removes @holder from every grant it holds. Returns the seats whose grant
 * lost its last holder (still in the registry: the caller revokes them). */
GPtrArray *sg_grant_registry_drop_holder (SgGrantRegistry *registry, const char *holder);

/* Takes @seat's grant out of the registry and returns it (NULL if none). */
SgGrant *sg_grant_registry_take (SgGrantRegistry *registry, const char *seat);

/* Seats whose grant has this session object path, uid, or any grant (new
 * arrays of seat names). */
GPtrArray *sg_grant_registry_seats_of_session (SgGrantRegistry *registry, const char *session_path);
GPtrArray *sg_grant_registry_seats_of_uid (SgGrantRegistry *registry, guint32 uid);
GPtrArray *sg_grant_registry_seats_of_holder (SgGrantRegistry *registry, const char *holder);
GPtrArray *sg_grant_registry_seats (SgGrantRegistry *registry);

/* Replaces @grant's ticket with @ticket (taken; may be NULL), wiping the old. */
void sg_grant_set_ticket (SgGrant *grant, char *ticket);

void sg_grant_free (SgGrant *grant);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SgGrant, sg_grant_free)

G_END_DECLS
