/** The gateway-port conformance suite on Redis (redis/farm.ts), against a real redis-server. */
import { useTestRedis } from '../helpers/redis.ts';
import { gatewayPortConformance } from './gateway-port.conformance.ts';

const redis = useTestRedis();
gatewayPortConformance('redis', () => redis.farm());
