(component (import "tg:plan/runenv@0.2.0" (instance (export "seed" (func (result u64))))))
