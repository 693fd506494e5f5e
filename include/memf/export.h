/* The one export macro of memf's public interface: what libmemf.so exports is marked with it
 * (the library is built with -fvisibility=hidden). */
#ifndef MEMF_EXPORT_H
#define MEMF_EXPORT_H

#define MEMF_API __attribute__((visibility("default")))

#endif
