// Runs the handler-link contract (handler-link.contract.ts) against every link: the original way,
// multiplex/1, and "auto" in front of either kind of handler.
import { AutoLink } from '../../src/server/handlers/auto-link.ts';
import { MultiplexLink } from '../../src/server/handlers/multiplex-link.ts';
import { OriginalLink } from '../../src/server/handlers/original-link.ts';
import { handlerLinkContract } from './handler-link.contract.ts';

handlerLinkContract({ name: 'original', handlerProtocol: 'original', make: (socketPath) => new OriginalLink(socketPath) });

handlerLinkContract({
  name: 'multiplex',
  handlerProtocol: 'multiplex',
  make: (socketPath) => new MultiplexLink({ socketPath, connections: 2 }, { forced: true }),
});

for (const handlerProtocol of ['original', 'multiplex'] as const) {
  handlerLinkContract({
    name: `auto, ${handlerProtocol} handler`,
    handlerProtocol,
    make: (socketPath) => new AutoLink({ socketPath, connections: 2 }, true),
  });
}
