# Stop a c6 run's continuation when its winner is the c4 run's winner (the same run, already measured).
declare -A C4=([1]=1000 [2]=2001 [3]=3002 [5]=5003 [6]=6002 [7]=7003)
while true; do
  for s in 1 2 3 5 6 7; do
    d=/work/runs/s14/hw_c6_s$s
    [ -f $d/selection.json ] || continue
    [ -f $d/.checked ] && continue
    w=$(python3 -c "import json;print(json.load(open('$d/selection.json'))['winner_seed'])")
    echo "seed $s: c6 winner $w, c4 winner ${C4[$s]}" >> /work/runs/s14/watch.out
    touch $d/.checked
    if [ "$w" = "${C4[$s]}" ]; then
      pkill -f "seed $s --candidates 6" && echo "seed $s: stopped (same run as c4)" >> /work/runs/s14/watch.out
    fi
  done
  sleep 15
done
