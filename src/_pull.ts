/** The result of an iterator that has ended. */
export const DONE: IteratorReturnResult<undefined> = Object.freeze({
  value: undefined,
  done: true,
});

/**
 * A stream that takes each frame from `next` when it is read, so that it
 * shares one queue with plain iteration and buffers nothing of its own.
 */
export function pullStream(
  next: () => Promise<IteratorResult<Uint8Array>>,
  cancel?: () => void | Promise<void>,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      try {
        const result = await next();
        if (result.done) controller.close();
        else controller.enqueue(result.value);
      } catch (error) {
        controller.error(error);
      }
    },
    ...(cancel ? { cancel } : {}),
  }, { highWaterMark: 0 });
}
