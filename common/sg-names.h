/* The names every part of seatgate agrees on (DESIGN.md's table), defined
 * once. */
#pragma once

#define SG_BUS_NAME "io.github.seatgate.Gate1"
#define SG_OBJECT_PATH "/io/github/seatgate/Gate1"
#define SG_INTERFACE "io.github.seatgate.Gate1"

#define SG_ACTION_GRANT "io.github.seatgate.grant"
#define SG_ACTION_MANAGE "io.github.seatgate.manage"

/* nftables: table "seatgate" in family inet. */
#define SG_TABLE "seatgate"
