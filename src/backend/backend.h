/* backend: the host side of devices. Character devices (stdio, pty, unix
 * socket) for consoles and serial ports; block images; network (libslirp
 * user-mode networking, tap). Devices in dev/ talk to these through the
 * small interfaces below; engines wire them up from the command line. */
#ifndef VESSEL_BACKEND_H
#define VESSEL_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ==== character devices (console, serial) ==== */


/* ==== block images ==== */


/* ==== network ==== */


#endif
