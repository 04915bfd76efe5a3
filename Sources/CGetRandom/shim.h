#ifndef NOSTR_SIGNER_CGETRANDOM_SHIM_H
#define NOSTR_SIGNER_CGETRANDOM_SHIM_H

// getrandom(2), which the Glibc module map leaves out: one system call fills a whole buffer from the kernel's CSPRNG.
#if defined(__linux__)
#include <sys/random.h>
#endif

#endif
