// The byte sizes of the read path, in one place: several are bound to each
// other, and to the writer's.

// An idle connection holds a read buffer of this size while it waits: small
// frames fill a small buffer as often as a large one.
export const MIN_READ_SIZE = 1024;
// A socket read rarely brings more than this, so a read buffer that grows
// while reads fill it stops here.
export const MAX_READ_SIZE = 64 * 1024;
// Bun pushes chunks of up to 512 KiB and Node of up to 64 KiB, so the queue
// of what they pushed is bounded in bytes: the socket is paused past this.
export const PUSHED_HIGH_WATER_MARK = 64 * 1024;
// `send()` writes payloads this large from the caller's memory instead of
// copying them, so a frame in memory that is read into again stays below it.
export const BY_REFERENCE_SIZE = 256 * 1024;
// A chunk smaller than this holds a frame or two, whose views cost less than
// copying the chunk into a reused buffer.
export const COPY_MIN = 256;
// A frame whose missing part is this large is read straight into its final
// buffer, which spares a copy of every byte.
export const DIRECT_MIN = 16 * 1024;
// The final buffer of a frame is allocated before the frame has arrived only
// up to this size (or once half of it is in), so memory grows with what the
// peer sent, not with what it announced.
export const DIRECT_FREE = 64 * 1024;
// After a frame this large the next header is read on its own, so that the
// payload behind it goes straight into its buffer too.
export const HEADER_READ_MIN = 32 * 1024;
// A fragment of an unfinished frame this large, that fills half of its
// memory, is kept by reference: smaller ones are copied, so a peer that
// trickles bytes cannot pin a whole read's memory per byte.
export const STAGING_REFERENCE_MIN = 4096;
// Smaller fragments are copied into blocks that start small, as most split
// frames are, and double up to a size at which a large frame takes few.
export const STAGING_FIRST_BLOCK = 256;
export const STAGING_MAX_BLOCK = 64 * 1024;
