#ifndef NOSTR_SIGNER_CGLIBCMALLOC_SHIM_H
#define NOSTR_SIGNER_CGLIBCMALLOC_SHIM_H

// glibc's heap statistics (mallinfo2, malloc_trim), which the Glibc module map leaves out. Benchmarks only.
#include <malloc.h>

#endif
