// The Presence and DeliveryBus contracts (presence.contract.ts, delivery-bus.contract.ts) against
// the memory implementations. There is no SQLite presence: presence is not durable (presence.ts).
import { MemoryDeliveryBus } from '../../src/server/presence/memory-delivery-bus.ts';
import { MemoryPresence } from '../../src/server/presence/memory-presence.ts';
import { deliveryBusContract } from './delivery-bus.contract.ts';
import { presenceContract } from './presence.contract.ts';

presenceContract('memory', () => Promise.resolve(new MemoryPresence()));
deliveryBusContract('memory', () => Promise.resolve(new MemoryDeliveryBus()));
