/* rpc_builtin.h - the methods `ioserve --protocol rpc` serves.
 *
 *   echo(x)        inline  x, whatever it is
 *   add(a, b)      inline  a + b, integers (an overflow of 64 bits is an error)
 *   sleep(ms)      worker  nil after blocking its worker for ms (at most RPC_SLEEP_MAX_MS)
 *   sha256(data)   worker  the 32-byte SHA-256 of a bin or str, as bin
 * Wrong params answer an error saying what was expected.
 */
#ifndef IOSERVE_RPC_BUILTIN_H
#define IOSERVE_RPC_BUILTIN_H

#include "rpc/rpc.h"

#define RPC_SLEEP_MAX_MS 60000u

int rpc_builtin_methods(rpc_registry *methods);

#endif
