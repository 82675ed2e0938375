/* The names every part of seatgate agrees on (the interface XML, the polkit
 * policy and the table the README's "How the gate works" describes), defined
 * once. */
#pragma once

#define SG_BUS_NAME "io.github.seatgate.Gate1"
#define SG_OBJECT_PATH "/io/github/seatgate/Gate1"
#define SG_INTERFACE "io.github.seatgate.Gate1"

#define SG_ACTION_GRANT "io.github.seatgate.grant"
#define SG_ACTION_MANAGE "io.github.seatgate.manage"

/* Where a seat's console is reached: the gated ports are loopback ports. */
#define SG_CONSOLE_HOST "127.0.0.1"

/* nftables: table "seatgate" in family inet. */
#define SG_TABLE "seatgate"
/* Kernels 5.12-6.8 (owner flag, no persist flag): the helper's owned
 * table, which enforces while the helper lives; "inet seatgate" is then
 * the plain backstop that keeps the deny when the helper is gone. */
#define SG_TABLE_OWNED "seatgate_owned"

/* The reasons Revoked carries (Gate1.xml). */
#define SG_REVOKE_RELEASED "released"               /* the holder gave it up */
#define SG_REVOKE_SESSION_CHANGED "session-changed" /* the seat switched, or logind left */
#define SG_REVOKE_SESSION_REMOVED "session-removed" /* logged out, or removed */
#define SG_REVOKE_DISCONNECTED "disconnected"       /* the holder left the bus */
#define SG_REVOKE_ADMIN "admin"                     /* Revoke () by an administrator */
#define SG_REVOKE_SHUTDOWN "shutdown"               /* the helper is stopping */

/* The sets of each seatgate table, and their keys' lengths in bytes, as the
 * helper writes them and seatgatectl reads them back. */
#define SG_SET_GATED "gated"     /* port, network order */
#define SG_SET_GRANTED "granted" /* uid . port: see SG_PAIR_KEY_LEN */
#define SG_SET_ALWAYS "always"   /* uid, host order */
#define SG_SET_CUT "cut"         /* uid . port */
#define SG_PORT_KEY_LEN 2
#define SG_UID_KEY_LEN 4
/* uid (4 bytes, host order) . port (2 bytes, network order, padded to 4). */
#define SG_PAIR_KEY_LEN 8

/* "No uid known": (uid_t) -1, which no user can have (setresuid (2) takes
 * it for "unchanged"). */
#define SG_NO_UID G_MAXUINT32
