// A bound on how long the daemon waits for an answer from outside (Redis, a lease): the work, or a
// rejection with `late()` after `ms`. The timer is cleared once the work settles and never keeps the
// process alive; a rejection of the work after the deadline stays handled (Promise.race listens).

/** `work`, or a rejection with `late()` once `ms` have passed without an answer. */
export function within<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
    timer.unref();
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
