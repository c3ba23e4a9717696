/** The builder-port conformance suite on Redis (redis/builder-farm.ts), against a real redis-server. */
import { useTestRedis } from '../helpers/redis.ts';
import { builderPortConformance } from './builder-port.conformance.ts';

const redis = useTestRedis();
builderPortConformance('redis', () => redis.farm());
