/** Who may do what, against the gateway app in-process (app.request) over a real Redis. */
import { describe } from 'node:test';
import { useApiGateway } from '../helpers/api-gateway.ts';
import { accessCases } from './access.cases.ts';

describe('API access in-process', { timeout: 60_000 }, () => {
  accessCases(useApiGateway());
});
