# gnuplot docs/results/batch-dither/figures.gp (from the repository root): the batch-size experiment's plots.
set terminal pngcairo size 800,500
set output 'docs/results/batch-dither/accuracy-vs-batch.png'
set logscale x 2
set xlabel 'batch size B (20 epochs of 16,000 images at every B)'
set ylabel 'final test accuracy (%), mean +- sd over 5 seeds'
set key bottom left
set xrange [24:2800]
plot 'docs/results/batch-dither/accuracy.dat' using ($1*0.95):2:3 with yerrorlines title 'Signum', \
     '' using ($1*1.05):4:5 with yerrorlines title 'dithered Signum'
set output 'docs/results/batch-dither/dither-share.png'
unset logscale x
set xrange [0:1]
set yrange [0:1]
set xlabel 'fraction of training'
set ylabel 'share of coordinates whose dither std > running noise std'
set key top right
plot for [b in '32 128 512 2048'] 'docs/results/batch-dither/dither-share-b'.b.'.dat' using 1:2 with lines title 'B = '.b
