// hiredis from the distribution (Debian: libhiredis-dev 0.14): the blocking client and its reply reader.
#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/time.h>
